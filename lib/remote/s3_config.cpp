// Resolving an S3Config from the remote URL, the [remote] options and the environment,
// including the AWS shared credentials and config files.
#include <kache/config.hpp>
#include <kache/remote/s3.hpp>

#include "object_key.hpp"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kache::remote {

namespace {

namespace fs = std::filesystem;

using Section = std::map<std::string, std::string>;

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

struct Lookup {
    const RemoteSpec& spec;
    const EnvLookup& env;

    std::optional<std::string> var(std::string_view name) const {
        auto v = env(name);
        if (v && !v->empty()) return v;
        return std::nullopt;
    }
    std::optional<std::string> option(const std::string& name) const {
        auto it = spec.options.find(name);
        if (it != spec.options.end() && !it->second.empty()) return it->second;
        return std::nullopt;
    }
};

fs::path home_dir(const Lookup& l) {
    if (auto h = l.var("HOME")) return *h;
    return {};
}

fs::path aws_file(const Lookup& l, std::string_view override_var, const char* name) {
    if (auto p = l.var(override_var)) return *p;
    fs::path home = home_dir(l);
    return home.empty() ? fs::path() : home / ".aws" / name;
}

// The credentials and region that a named profile holds in the two AWS files.
struct Profile {
    bool found = false;
    std::string access_key, secret_key, session_token, region;
    std::string source; // "profile 'x' in /home/u/.aws/credentials"
};

Profile read_profile(const Lookup& l, const std::string& name) {
    Profile p;
    const fs::path cred_path = aws_file(l, "AWS_SHARED_CREDENTIALS_FILE", "credentials");
    const fs::path conf_path = aws_file(l, "AWS_CONFIG_FILE", "config");
    auto take = [&](const Section& s, const fs::path& from) {
        p.found = true;
        auto get = [&](const char* k) {
            auto it = s.find(k);
            return it == s.end() ? std::string() : it->second;
        };
        if (p.access_key.empty() && !get("aws_access_key_id").empty()) {
            p.access_key = get("aws_access_key_id");
            p.secret_key = get("aws_secret_access_key");
            p.session_token = get("aws_session_token");
            p.source = "profile '" + name + "' in " + from.string();
        }
        if (p.region.empty()) p.region = get("region");
    };
    if (!cred_path.empty()) {
        auto creds = read_aws_ini(cred_path);
        if (auto it = creds.find(name); it != creds.end()) take(it->second, cred_path);
    }
    if (!conf_path.empty()) {
        // In the config file every profile but the default is written "[profile name]".
        auto conf = read_aws_ini(conf_path);
        auto it = conf.find("profile " + name);
        if (it == conf.end() && name == "default") it = conf.find("default");
        if (it != conf.end()) take(it->second, conf_path);
    }
    return p;
}

Result<std::chrono::milliseconds> parse_ms(const std::string& what, const std::string& v) {
    long long n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 0)
        return fail(ErrorKind::config, "remote option " + what + " = '" + v + "' is not a non-negative integer");
    return std::chrono::milliseconds(n);
}

// Addressing style, CA bundle and multipart sizes (see s3.hpp for the order of precedence).
Result<void> resolve_transport_options(const Lookup& l, S3Config& cfg) {
    if (auto v = l.var("KACHE_S3_ADDRESSING_STYLE")) {
        auto s = parse_addressing_style(*v, "KACHE_S3_ADDRESSING_STYLE");
        if (!s) return std::unexpected(s.error());
        cfg.addressing_style = *s;
    } else if (auto o = l.option("addressing_style")) {
        auto s = parse_addressing_style(*o, "remote option addressing_style");
        if (!s) return std::unexpected(s.error());
        cfg.addressing_style = *s;
    }

    std::optional<std::string> ca;
    if ((ca = l.var("KACHE_S3_CA_BUNDLE"))) cfg.ca_bundle_source = "KACHE_S3_CA_BUNDLE";
    else if ((ca = l.option("ca_bundle"))) cfg.ca_bundle_source = "remote option ca_bundle";
    else if ((ca = l.var("AWS_CA_BUNDLE"))) cfg.ca_bundle_source = "AWS_CA_BUNDLE";
    if (ca) {
        // Checked now: a typo would otherwise surface as a TLS failure on every request.
        std::ifstream probe(*ca);
        std::error_code ec;
        if (!probe || fs::is_directory(*ca, ec))
            return fail(ErrorKind::config, "the CA bundle '" + *ca + "' (" + cfg.ca_bundle_source +
                                               ") is not a readable file: fix " + cfg.ca_bundle_source);
        cfg.ca_bundle = *ca;
    }

    auto size_option = [&](const char* name, std::uint64_t& out, std::uint64_t min) -> Result<void> {
        auto v = l.option(name);
        if (!v) return ok();
        auto n = config::parse_size(*v);
        if (!n || *n < min)
            return fail(ErrorKind::config, std::string("remote option ") + name + " = '" + *v + "' is not a size of at least " +
                                               std::to_string(min) + " bytes (e.g. \"16MiB\")");
        out = *n;
        return ok();
    };
    if (auto r = size_option("multipart_threshold", cfg.multipart_threshold, 1); !r) return r;
    return size_option("multipart_part_size", cfg.multipart_part_size, k_min_multipart_part_size);
}

} // namespace

EnvLookup process_environment() {
    return [](std::string_view name) -> std::optional<std::string> {
        const char* v = std::getenv(std::string(name).c_str());
        if (!v) return std::nullopt;
        return std::string(v);
    };
}

Result<S3Config> resolve_s3_config(const RemoteSpec& spec, const EnvLookup& env) {
    Lookup l{spec, env};
    S3Config cfg;

    // s3://bucket/prefix/parts
    std::string url_bucket, url_prefix;
    if (!spec.url.empty()) {
        constexpr std::string_view scheme = "s3://";
        if (!spec.url.starts_with(scheme))
            return fail(ErrorKind::config, "remote URL '" + spec.url + "' is not an s3:// URL: write s3://bucket/prefix");
        std::string rest = spec.url.substr(scheme.size());
        auto slash = rest.find('/');
        url_bucket = rest.substr(0, slash);
        if (slash != std::string::npos) url_prefix = rest.substr(slash + 1);
    }

    auto first = [](std::initializer_list<std::optional<std::string>> choices) -> std::string {
        for (const auto& c : choices)
            if (c) return *c;
        return {};
    };
    cfg.bucket = first({l.var("KACHE_S3_BUCKET"), l.option("bucket"),
                        url_bucket.empty() ? std::nullopt : std::optional(url_bucket)});
    if (cfg.bucket.empty())
        return fail(ErrorKind::config,
                    "no S3 bucket configured: set KACHE_S3_BUCKET or remote = \"s3://bucket/prefix\"");
    auto prefix = detail::normalize_root_prefix(
        first({l.var("KACHE_S3_PREFIX"), l.option("prefix"), std::optional(url_prefix)}));
    if (!prefix) return fail(ErrorKind::config, "S3 prefix (KACHE_S3_PREFIX): " + prefix.error().message);
    cfg.prefix = *prefix;

    // The profile: named explicitly for kache, or the AWS default.
    std::optional<std::string> explicit_profile = l.var("KACHE_S3_PROFILE");
    if (!explicit_profile) explicit_profile = l.option("profile");
    const std::string profile_name = explicit_profile ? *explicit_profile : first({l.var("AWS_PROFILE"), "default"});
    Profile profile = read_profile(l, profile_name);
    if (explicit_profile && !profile.found)
        return fail(ErrorKind::config, "AWS profile '" + profile_name + "' (KACHE_S3_PROFILE) is in neither " +
                                           aws_file(l, "AWS_SHARED_CREDENTIALS_FILE", "credentials").string() +
                                           " nor " + aws_file(l, "AWS_CONFIG_FILE", "config").string());

    // Credentials: the first complete pair wins; half a pair is a mistake worth reporting.
    auto pair = [&](std::optional<std::string> ak, std::optional<std::string> sk, std::optional<std::string> tok,
                    const std::string& ak_name, const std::string& sk_name, const std::string& source) -> Result<bool> {
        if (!ak && !sk) return false;
        if (!ak || !sk)
            return fail(ErrorKind::config, (ak ? ak_name : sk_name) + " is set but " + (ak ? sk_name : ak_name) +
                                               " is not: set both");
        cfg.access_key = *ak;
        cfg.secret_key = *sk;
        cfg.session_token = tok.value_or("");
        cfg.credential_source = source;
        return true;
    };
    auto use_profile = [&] {
        cfg.access_key = profile.access_key;
        cfg.secret_key = profile.secret_key;
        cfg.session_token = profile.session_token;
        cfg.credential_source = profile.source;
        cfg.profile = profile_name;
    };
    bool have = false;
    for (int step = 0; step < 5 && !have; ++step) {
        Result<bool> r = false;
        switch (step) {
        case 0:
            r = pair(l.var("KACHE_S3_ACCESS_KEY"), l.var("KACHE_S3_SECRET_KEY"), l.var("KACHE_S3_SESSION_TOKEN"),
                     "KACHE_S3_ACCESS_KEY", "KACHE_S3_SECRET_KEY", "KACHE_S3_ACCESS_KEY");
            break;
        case 1:
            r = pair(l.option("access_key"), l.option("secret_key"), l.option("session_token"),
                     "remote option access_key", "remote option secret_key", "the [remote] access_key option");
            break;
        case 2:
            if (explicit_profile && !profile.access_key.empty()) {
                use_profile();
                r = true;
            }
            break;
        case 3:
            r = pair(l.var("AWS_ACCESS_KEY_ID"), l.var("AWS_SECRET_ACCESS_KEY"), l.var("AWS_SESSION_TOKEN"),
                     "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID");
            break;
        case 4:
            if (!profile.access_key.empty()) {
                use_profile();
                r = true;
            }
            break;
        }
        if (!r) return std::unexpected(r.error());
        have = *r;
    }
    if (!have)
        return fail(ErrorKind::config,
                    "no S3 credentials found: set KACHE_S3_ACCESS_KEY and KACHE_S3_SECRET_KEY, or AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY, or add profile '" + profile_name + "' to ~/.aws/credentials");
    if (cfg.secret_key.empty())
        return fail(ErrorKind::config, "the S3 credentials from " + cfg.credential_source + " have no secret key");
    if (cfg.profile.empty() && explicit_profile) cfg.profile = profile_name;

    cfg.region = first({l.var("KACHE_S3_REGION"), l.option("region"), l.var("AWS_REGION"),
                        l.var("AWS_DEFAULT_REGION"),
                        profile.region.empty() ? std::nullopt : std::optional(profile.region), "us-east-1"});
    cfg.endpoint = first({l.var("KACHE_S3_ENDPOINT"), l.option("endpoint"), l.var("AWS_ENDPOINT_URL_S3"),
                          l.var("AWS_ENDPOINT_URL"), "https://s3." + cfg.region + ".amazonaws.com"});

    if (auto v = l.option("max_attempts")) {
        unsigned n = 0;
        auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
        if (ec != std::errc() || end != v->data() + v->size() || n == 0)
            return fail(ErrorKind::config, "remote option max_attempts = '" + *v + "' is not a positive integer");
        cfg.retry.max_attempts = n;
    }
    if (auto v = l.option("connect_timeout_ms")) {
        auto ms = parse_ms("connect_timeout_ms", *v);
        if (!ms) return std::unexpected(ms.error());
        cfg.connect_timeout = *ms;
    }
    if (auto v = l.option("low_speed_time_s")) {
        auto ms = parse_ms("low_speed_time_s", *v);
        if (!ms) return std::unexpected(ms.error());
        cfg.low_speed_time = std::chrono::seconds(ms->count());
    }
    if (auto r = resolve_transport_options(l, cfg); !r) return std::unexpected(r.error());
    return cfg;
}

} // namespace kache::remote
