#include "origins.hpp"

#include <kache/config.hpp>
#include <kache/util/fs.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <optional>
#include <vector>

// Header-only: the wrapper loads no extra shared library for its config.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
// toml++ 3.3 asserts what its parser assumes of its input, and a malformed
// config.toml can break one (`[+x]` aborts in parse_key). Without the assert the
// parser reports a syntax error, which becomes a warning: a bad config never kills a build.
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

namespace kache::config {

// A config file larger than this is not a config file.
inline constexpr std::uint64_t k_max_config_bytes = 1 << 20;
// The smallest store cap taken: below it every entry would be evicted at once (a value such
// as `max_size = 1` is a mistake, and `kache gc` would empty the store).
inline constexpr std::uint64_t k_min_max_size = 1 << 20;
// The longest remote-check deadline taken: the wrapper waits this long on a miss.
inline constexpr std::int64_t k_max_remote_check_timeout_ms = 10 * 60 * 1000;
// The longest idle timeout taken (30 days); 0 means never.
inline constexpr std::int64_t k_max_daemon_idle_timeout_s = 30ll * 24 * 3600;

namespace fs = std::filesystem;

Result<std::uint64_t> parse_size(std::string_view text) {
    std::string s(text);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    if (s.empty()) return fail(ErrorKind::config, "empty size");
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || v < 0 || !std::isfinite(v)) return fail(ErrorKind::config, "not a size: \"" + s + "\"");
    std::string unit(end);
    for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
    double mult = 1;
    if (unit.empty() || unit == "B") mult = 1;
    else if (unit == "K" || unit == "KB" || unit == "KIB") mult = 1024.0;
    else if (unit == "M" || unit == "MB" || unit == "MIB") mult = 1024.0 * 1024;
    else if (unit == "G" || unit == "GB" || unit == "GIB") mult = 1024.0 * 1024 * 1024;
    else if (unit == "T" || unit == "TB" || unit == "TIB") mult = 1024.0 * 1024 * 1024 * 1024;
    else return fail(ErrorKind::config, "unknown size unit in \"" + s + "\" (use K, M, G or T)");
    double bytes = v * mult;
    if (bytes >= 18446744073709551615.0) return fail(ErrorKind::config, "size \"" + s + "\" is too large");
    return static_cast<std::uint64_t>(bytes);
}

bool valid_log_level(std::string_view level) {
    return level == "error" || level == "warn" || level == "info" || level == "debug" || level == "trace";
}

namespace {

fs::path default_cache_dir() {
    if (auto x = util::env("XDG_CACHE_HOME"); x && !x->empty() && (*x)[0] == '/') return fs::path(*x) / "kache";
    if (auto h = util::env("HOME"); h && !h->empty()) return fs::path(*h) / ".cache" / "kache";
    // No HOME (cron, services, containers): the per-user runtime dir, which nobody else
    // can enter. Else a name in /tmp that another user may have planted first: the store
    // refuses it unless it is a private directory of ours (see util::check_private_dir).
    if (auto r = util::env("XDG_RUNTIME_DIR"); r && !r->empty() && (*r)[0] == '/') return fs::path(*r) / "kache";
    return fs::path("/tmp") / ("kache-" + std::to_string(::geteuid()));
}

fs::path default_config_file() {
    if (auto k = util::env("KACHE_CONFIG"); k && !k->empty()) return *k;
    if (auto x = util::env("XDG_CONFIG_HOME"); x && !x->empty() && (*x)[0] == '/')
        return fs::path(*x) / "kache" / "config.toml";
    if (auto h = util::env("HOME"); h && !h->empty()) return fs::path(*h) / ".config" / "kache" / "config.toml";
    return {};
}

struct FileReader {
    Config& cfg;
    std::string file;
    Origins* origins = nullptr; // only `kache config` asks where values came from

    // A key that added no warning was taken.
    void note(const std::string& key, std::size_t warnings_before) {
        if (origins && cfg.warnings.size() == warnings_before) (*origins)[key] = {Source::file, file};
    }

    void warn(std::string_view key, std::string_view problem) {
        cfg.warnings.push_back(file + ": key '" + std::string(key) + "': " + std::string(problem) +
                               "; using the default (fix or remove the key)");
    }

    // A value of another TOML type is never converted (true is not 1, 0 is not false).
    void wrong_type(const toml::node& n, std::string_view key, std::string_view expected) {
        warn(key, "expected " + std::string(expected) + ", got " + type_name(n));
    }

    static std::string type_name(const toml::node& n) {
        switch (n.type()) {
        case toml::node_type::string: return "a string";
        case toml::node_type::integer: return "an integer";
        case toml::node_type::floating_point: return "a floating-point number";
        case toml::node_type::boolean: return "a boolean";
        case toml::node_type::array: return "an array";
        case toml::node_type::table: return "a table";
        default: return "a date or time";
        }
    }

    void boolean(const toml::node& n, std::string_view key, bool& out) {
        if (auto v = n.value_exact<bool>()) out = *v;
        else wrong_type(n, key, "a boolean (true or false)");
    }

    void string(const toml::node& n, std::string_view key, std::string& out) {
        if (auto v = n.value_exact<std::string>()) out = *v;
        else wrong_type(n, key, "a string");
    }

    // An integer in [lo, hi]; a value out of range or of another type keeps the default.
    std::optional<std::int64_t> integer(const toml::node& n, std::string_view key, std::int64_t lo, std::int64_t hi,
                                        std::string_view what) {
        auto v = n.value_exact<std::int64_t>();
        if (!v) {
            wrong_type(n, key, "an integer (" + std::string(what) + ")");
            return std::nullopt;
        }
        if (*v < lo || *v > hi) {
            warn(key, std::to_string(*v) + " is out of range: expected " + std::string(what) + " from " +
                          std::to_string(lo) + " to " + std::to_string(hi));
            return std::nullopt;
        }
        return v;
    }

    void size(const toml::node& n, std::string_view key, std::uint64_t& out) {
        std::uint64_t bytes = 0;
        if (auto i = n.value_exact<std::int64_t>()) {
            if (*i <= 0) return warn(key, std::to_string(*i) + " is not a size: expected a positive size such as \"20G\"");
            bytes = static_cast<std::uint64_t>(*i);
        } else if (auto s = n.value_exact<std::string>()) {
            auto v = parse_size(*s);
            if (!v) return warn(key, "expected a size such as \"20G\", got \"" + *s + "\"");
            bytes = *v;
        } else {
            return wrong_type(n, key, "a size (a string such as \"20G\", or a number of bytes)");
        }
        if (bytes < k_min_max_size)
            return warn(key, std::to_string(bytes) + " bytes is too small: expected at least 1M (write e.g. \"20G\")");
        out = bytes;
    }

    void read(const toml::table& t) {
        for (auto& [k, node] : t) {
            std::string key(k.str());
            std::size_t before = cfg.warnings.size();
            read_key(key, node);
            if (key != "remote") note(key, before);
        }
    }

    void read_key(const std::string& key, const toml::node& node) {
        {
            if (key == "cache_dir") {
                std::string s;
                string(node, key, s);
                if (!s.empty() && s[0] == '/') cfg.cache_dir = s;
                else if (!s.empty()) warn(key, "expected an absolute path, got \"" + s + "\"");
            } else if (key == "max_size") {
                size(node, key, cfg.max_size);
            } else if (key == "key_env_vars") {
                if (auto arr = node.as_array()) {
                    std::vector<std::string> names;
                    bool good = true;
                    for (auto& item : *arr) {
                        if (auto s = item.value_exact<std::string>(); s && !s->empty()) names.push_back(*s);
                        else good = false;
                    }
                    // All or nothing: a half-read list would key fewer variables than asked.
                    if (good) cfg.key_env_vars = std::move(names);
                    else warn(key, "expected an array of variable names (strings) such as [\"MY_VAR\"]");
                } else wrong_type(node, key, "an array of variable names such as [\"MY_VAR\"]");
            } else if (key == "disabled") boolean(node, key, cfg.disabled);
            else if (key == "preserve_incremental") boolean(node, key, cfg.preserve_incremental);
            else if (key == "progress") boolean(node, key, cfg.progress);
            else if (key == "verify_blobs") boolean(node, key, cfg.verify_blobs);
            else if (key == "prefetch") boolean(node, key, cfg.prefetch);
            else if (key == "log_level") {
                std::string s;
                string(node, key, s);
                if (valid_log_level(s)) cfg.log_level = s;
                else if (!s.empty()) warn(key, "expected trace, debug, info, warn or error, got \"" + s + "\"");
            } else if (key == "socket_path") {
                std::string s;
                string(node, key, s);
                if (!s.empty() && s[0] == '/') cfg.socket_path = s;
                else if (!s.empty()) warn(key, "expected an absolute path");
            } else if (key == "remote_check_timeout_ms") {
                if (auto i = integer(node, key, 0, k_max_remote_check_timeout_ms, "milliseconds"))
                    cfg.remote_check_timeout = std::chrono::milliseconds(*i);
            } else if (key == "daemon_idle_timeout") {
                if (auto i = integer(node, key, 0, k_max_daemon_idle_timeout_s, "seconds (0: never)"))
                    cfg.daemon_idle_timeout_s = *i;
            } else if (key == "scrub_rate") {
                if (auto i = node.value_exact<std::int64_t>()) {
                    if (*i >= 0) cfg.scrub_rate = static_cast<std::uint64_t>(*i);
                    else warn(key, std::to_string(*i) + " is not a rate: expected bytes a second such as \"4M\" (0 turns the scrub off)");
                } else if (auto str = node.value_exact<std::string>()) {
                    if (auto v = parse_size(*str)) cfg.scrub_rate = *v;
                    else warn(key, "expected bytes a second such as \"4M\", got \"" + *str + "\"");
                } else wrong_type(node, key, "bytes a second (a string such as \"4M\", or a number; 0 turns the scrub off)");
            } else if (key == "remote") {
                if (auto rt = node.as_table()) read_remote(*rt);
                else wrong_type(node, key, "a table [remote]");
            } else {
                warn(key, "unknown key");
            }
        }
    }

    void read_remote(const toml::table& t) {
        std::string type;
        for (auto& [k, node] : t) {
            std::string key(k.str());
            std::string qualified = "remote." + key;
            std::size_t before = cfg.warnings.size();
            read_remote_key(key, qualified, node, type);
            note(qualified, before);
        }
        if (cfg.remote.url.empty()) {
            if (type == "s3" && cfg.remote.options.contains("bucket"))
                cfg.remote.url = "s3://" + cfg.remote.options["bucket"] + "/" + cfg.remote.options["prefix"];
            else if (type == "filesystem" && cfg.remote.options.contains("dir"))
                cfg.remote.url = "file://" + cfg.remote.options["dir"];
            else if (!type.empty() && type != "s3" && type != "filesystem")
                cfg.remote.url = type + "://";
            if (!cfg.remote.url.empty()) note("remote.url", cfg.warnings.size());
        }
    }

    void read_remote_key(const std::string& key, const std::string& qualified, const toml::node& node, std::string& type) {
        {
            if (key == "read_only") boolean(node, qualified, cfg.remote.read_only);
            else if (key == "url") string(node, qualified, cfg.remote.url);
            else if (key == "type") string(node, qualified, type);
            else if (auto s = node.value_exact<std::string>()) cfg.remote.options[key] = *s;
            else if (auto i = node.value_exact<std::int64_t>()) cfg.remote.options[key] = std::to_string(*i);
            else wrong_type(node, qualified, "a string");
        }
    }
};

// True if every line is blank or a comment (TOML: whitespace is space and tab,
// a line may end in CRLF). Any other control character is left to the parser,
// which reports it.
bool only_comments(std::string_view text) {
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        for (char c : line)
            if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return false;
        std::size_t first = line.find_first_not_of(" \t");
        if (first != std::string_view::npos && line[first] != '#') return false;
        pos = end + 1;
    }
    return true;
}

void read_file(Config& cfg, const fs::path& file, Origins* origins) {
    if (file.empty() || ::access(file.c_str(), F_OK) != 0) return;
    cfg.config_file = file;
    auto text = util::read_file_bounded(file, k_max_config_bytes);
    if (!text) {
        cfg.warnings.push_back(file.string() + ": " + text.error().message + "; the file is ignored");
        return;
    }
    // toml++ 3.3 reaches __builtin_unreachable() on some non-ASCII characters (its
    // whitespace table misses U+00A1..U+0499): undefined behaviour, not an error. Every
    // value kache reads can be written in ASCII, so other text is refused before parsing.
    for (std::size_t i = 0; i < text->size(); ++i)
        if (static_cast<unsigned char>((*text)[i]) >= 0x80) {
            cfg.warnings.push_back(file.string() + ": byte " + std::to_string(i) +
                                   " is not ASCII; the file is ignored (write it in ASCII, or use KACHE_* variables)");
            return;
        }
    // A file of comments and blank lines (the one `kache init` writes) sets nothing:
    // the TOML parser is not started for it, since this runs on every cache hit.
    if (only_comments(*text)) return;
    toml::parse_result parsed = toml::parse(*text, file.string());
    if (!parsed) {
        auto& err = parsed.error();
        cfg.warnings.push_back(file.string() + ":" + std::to_string(err.source().begin.line) + ": " +
                               std::string(err.description()) + "; the file is ignored (fix the syntax)");
        return;
    }
    FileReader{cfg, file.string(), origins}.read(parsed.table());
}

void read_env(Config& cfg, Origins* origins) {
    auto warn_env = [&](const char* name, std::string_view problem) {
        cfg.warnings.push_back(std::string("environment variable ") + name + ": " + std::string(problem) +
                               "; using the default");
    };
    // Records that key's value came from the variable (only for `kache config`).
    auto took = [&](const char* key, const char* name) {
        if (origins) (*origins)[key] = {Source::environment, name};
    };
    if (auto v = util::env("KACHE_CACHE_DIR"); v && !v->empty()) {
        if ((*v)[0] == '/') cfg.cache_dir = *v, took("cache_dir", "KACHE_CACHE_DIR");
        else warn_env("KACHE_CACHE_DIR", "expected an absolute path, got \"" + *v + "\"");
    }
    if (auto v = util::env("KACHE_MAX_SIZE"); v && !v->empty()) {
        if (auto s = parse_size(*v); s && *s >= k_min_max_size) cfg.max_size = *s, took("max_size", "KACHE_MAX_SIZE");
        else if (s) warn_env("KACHE_MAX_SIZE", "\"" + *v + "\" is too small: expected at least 1M");
        else warn_env("KACHE_MAX_SIZE", s.error().message);
    }
    if (auto v = util::env("KACHE_SCRUB_RATE"); v && !v->empty()) {
        if (auto s = parse_size(*v)) cfg.scrub_rate = *s, took("scrub_rate", "KACHE_SCRUB_RATE");
        else warn_env("KACHE_SCRUB_RATE", s.error().message);
    }
    if (auto v = util::env("KACHE_KEY_ENV_VARS")) {
        for (auto& name : util::split_list(*v)) cfg.key_env_vars.push_back(name);
        if (!v->empty()) took("key_env_vars", "KACHE_KEY_ENV_VARS");
    }
    auto flag = [&](const char* name, bool& out, const char* key) {
        if (auto v = util::env(name); v && !v->empty()) out = util::env_flag(name), took(key, name);
    };
    flag("KACHE_DISABLED", cfg.disabled, "disabled");
    flag("KACHE_PRESERVE_INCREMENTAL", cfg.preserve_incremental, "preserve_incremental");
    flag("KACHE_PROGRESS", cfg.progress, "progress");
    flag("KACHE_VERIFY_BLOBS", cfg.verify_blobs, "verify_blobs");
    flag("KACHE_PREFETCH", cfg.prefetch, "prefetch");
    flag("KACHE_REMOTE_READONLY", cfg.remote.read_only, "remote.read_only");
    flag("KACHE_DAEMON_FOREGROUND", cfg.daemon_foreground, "daemon_foreground");
    if (auto v = util::env("KACHE_LOG"); v && !v->empty()) {
        if (valid_log_level(*v)) cfg.log_level = *v, took("log_level", "KACHE_LOG");
        else warn_env("KACHE_LOG", "unknown level \"" + *v + "\": expected error, warn, info or debug");
    }
    if (auto v = util::env("KACHE_SOCKET_PATH"); v && !v->empty()) {
        if ((*v)[0] == '/') cfg.socket_path = *v, took("socket_path", "KACHE_SOCKET_PATH");
        else warn_env("KACHE_SOCKET_PATH", "expected an absolute path");
    }
    if (auto v = util::env("KACHE_REMOTE_CHECK_TIMEOUT_MS"); v && !v->empty()) {
        char* end = nullptr;
        long ms = std::strtol(v->c_str(), &end, 10);
        if (*end == 0 && ms >= 0 && ms <= k_max_remote_check_timeout_ms) cfg.remote_check_timeout = std::chrono::milliseconds(ms),
                                                                            took("remote_check_timeout_ms", "KACHE_REMOTE_CHECK_TIMEOUT_MS");
        else warn_env("KACHE_REMOTE_CHECK_TIMEOUT_MS", "expected a number of milliseconds");
    }
    if (auto v = util::env("KACHE_DAEMON_IDLE_TIMEOUT"); v && !v->empty()) {
        char* end = nullptr;
        long s = std::strtol(v->c_str(), &end, 10);
        if (*end == 0 && s >= 0 && s <= k_max_daemon_idle_timeout_s) cfg.daemon_idle_timeout_s = s, took("daemon_idle_timeout", "KACHE_DAEMON_IDLE_TIMEOUT");
        else warn_env("KACHE_DAEMON_IDLE_TIMEOUT", "expected a number of seconds");
    }
    // Remote selection: a shared directory, or S3 settings (the S3 backend reads
    // the remaining KACHE_S3_*/AWS_* variables itself).
    if (auto v = util::env("KACHE_REMOTE_DIR"); v && !v->empty()) {
        cfg.remote.url = "file://" + *v;
        cfg.remote.options["dir"] = *v;
        took("remote.url", "KACHE_REMOTE_DIR");
        took("remote.dir", "KACHE_REMOTE_DIR");
    }
    if (auto v = util::env("KACHE_REMOTE"); v && !v->empty()) cfg.remote.url = *v, took("remote.url", "KACHE_REMOTE");
    if (auto v = util::env("KACHE_S3_BUCKET"); v && !v->empty()) {
        cfg.remote.options["bucket"] = *v;
        std::string prefix = util::env("KACHE_S3_PREFIX").value_or(cfg.remote.options["prefix"]);
        cfg.remote.url = "s3://" + *v + "/" + prefix;
        took("remote.url", "KACHE_S3_BUCKET");
        took("remote.bucket", "KACHE_S3_BUCKET");
    }
}

} // namespace

Config load_with_origins(const fs::path& file, Origins* origins) {
    Config cfg;
    cfg.cache_dir = default_cache_dir();
    read_file(cfg, file, origins);
    read_env(cfg, origins);
    return cfg;
}

fs::path config_file_path() { return default_config_file(); }

Config load_from(const fs::path& file) { return load_with_origins(file, nullptr); }

Config load() { return load_from(default_config_file()); }

} // namespace kache::config
