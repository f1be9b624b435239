// Reading one profile from the AWS shared credentials and config files.
#include "aws_profile.hpp"

#include <fstream>

namespace kache::remote::detail {

namespace {

namespace fs = std::filesystem;

using Section = std::map<std::string, std::string>;

// Lines longer than this are not settings anyone writes; they are skipped.
inline constexpr std::size_t k_max_ini_line = 16 * 1024;

std::string trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return std::string(s);
}

// Reads the sections of an AWS INI file ("[name]" / "[profile name]", "key = value").
// Indented lines are nested settings (e.g. "s3 =\n  addressing_style = path") that kache
// does not use; comments start with '#' or ';'. A missing file is an empty map.
std::map<std::string, Section> read_aws_ini(const fs::path& path) {
    std::map<std::string, Section> out;
    std::ifstream in(path);
    std::string line, section;
    bool in_section = false;
    while (std::getline(in, line)) {
        if (line.size() > k_max_ini_line) continue;
        if (line.empty() || line.front() == ' ' || line.front() == '\t') continue;
        std::string t = trim(line);
        if (t.empty() || t.front() == '#' || t.front() == ';') continue;
        if (t.front() == '[') {
            auto close = t.find(']');
            section = trim(t.substr(1, close == std::string::npos ? std::string::npos : close - 1));
            in_section = true;
            out[section];
            continue;
        }
        auto eq = t.find('=');
        if (!in_section || eq == std::string::npos) continue;
        out[section][trim(t.substr(0, eq))] = trim(t.substr(eq + 1));
    }
    return out;
}

std::optional<std::string> var(const EnvLookup& env, std::string_view name) {
    auto v = env(name);
    if (v && !v->empty()) return v;
    return std::nullopt;
}

} // namespace

std::string AwsProfile::get(const std::string& key) const {
    auto it = settings.find(key);
    return it == settings.end() ? std::string() : it->second.first;
}

std::string AwsProfile::where(const std::string& key) const {
    auto it = settings.find(key);
    return "profile '" + name + "'" + (it == settings.end() ? "" : " in " + it->second.second.string());
}

fs::path aws_file(const EnvLookup& env, std::string_view override_var, const char* name) {
    if (auto p = var(env, override_var)) return *p;
    auto home = var(env, "HOME");
    return home ? fs::path(*home) / ".aws" / name : fs::path();
}

AwsProfile read_aws_profile(const EnvLookup& env, const std::string& name) {
    AwsProfile p;
    p.name = name;
    auto take = [&](const Section& s, const fs::path& from) {
        p.found = true;
        for (const auto& [k, v] : s) p.settings.try_emplace(k, v, from);
    };
    const fs::path cred_path = aws_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    if (!cred_path.empty()) {
        auto creds = read_aws_ini(cred_path);
        if (auto it = creds.find(name); it != creds.end()) take(it->second, cred_path);
    }
    const fs::path conf_path = aws_file(env, "AWS_CONFIG_FILE", "config");
    if (!conf_path.empty()) {
        // In the config file every profile but the default is written "[profile name]".
        auto conf = read_aws_ini(conf_path);
        auto it = conf.find("profile " + name);
        if (it == conf.end() && name == "default") it = conf.find("default");
        if (it != conf.end()) take(it->second, conf_path);
    }
    return p;
}

} // namespace kache::remote::detail
