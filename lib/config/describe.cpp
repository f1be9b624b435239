// `kache config`: every setting with its resolved value and where it came from.
#include "origins.hpp"

#include <kache/util/fs.hpp>

#include <algorithm>
#include <cctype>

namespace kache::config {

namespace {

// Values of keys that look like credentials are never printed.
bool secret_key(std::string key) {
    for (auto& c : key) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (const char* word : {"KEY", "SECRET", "TOKEN", "PASSWORD"})
        if (key.find(word) != std::string::npos) return true;
    return false;
}

std::string yes_no(bool b) { return b ? "true" : "false"; }

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (auto& s : items) out += (out.empty() ? "" : ",") + s;
    return out;
}

} // namespace

std::string_view source_name(Source s) {
    switch (s) {
    case Source::file: return "file";
    case Source::environment: return "environment";
    default: return "default";
    }
}

Described describe() {
    Origins origins;
    Described out;
    out.file = config_file_path();
    out.config = load_with_origins(out.file, &origins);
    const Config& c = out.config;
    auto add = [&](std::string key, std::string value) {
        bool hide = key.starts_with("remote.") && secret_key(key.substr(7)) && !value.empty();
        Setting s;
        s.key = key;
        s.value = hide ? "(set, not shown)" : std::move(value);
        if (auto o = origins.find(key); o != origins.end()) {
            s.source = o->second.first;
            s.origin = o->second.second;
        }
        out.settings.push_back(std::move(s));
    };
    add("cache_dir", c.cache_dir.string());
    add("max_size", util::human_bytes(c.max_size));
    add("key_env_vars", join(c.key_env_vars));
    add("disabled", yes_no(c.disabled));
    add("preserve_incremental", yes_no(c.preserve_incremental));
    add("progress", yes_no(c.progress));
    add("verify_blobs", yes_no(c.verify_blobs));
    add("log_level", c.log_level);
    add("prefetch", yes_no(c.prefetch));
    add("socket_path", c.effective_socket_path().string());
    add("remote_check_timeout_ms", std::to_string(c.remote_check_timeout.count()));
    add("daemon_idle_timeout", std::to_string(c.daemon_idle_timeout_s));
    add("daemon_foreground", yes_no(c.daemon_foreground));
    add("scrub_rate", c.scrub_rate ? util::human_bytes(c.scrub_rate) + "/s" : "0 (off)");
    add("remote.url", c.remote.url);
    add("remote.read_only", yes_no(c.remote.read_only));
    for (auto& [k, v] : c.remote.options) add("remote." + k, v);
    return out;
}

} // namespace kache::config
