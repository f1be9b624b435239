// Resolving an S3Config from the remote URL, the [remote] options and the environment,
// with the credentials from the default chain (credential_chain.cpp), one provider per
// configuration in the process.
#include <kache/config.hpp>
#include <kache/remote/s3.hpp>

#include <kache/remote/credentials.hpp>

#include "aws_profile.hpp"
#include "object_key.hpp"

#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

namespace kache::remote {

namespace {

namespace fs = std::filesystem;

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

// Everything the credential chain reads from the environment: two remotes (or two worker
// threads' backends) with the same spec and these values share one provider.
constexpr std::string_view k_chain_vars[] = {
    "HOME", "KACHE_S3_ACCESS_KEY", "KACHE_S3_SECRET_KEY", "KACHE_S3_SESSION_TOKEN", "KACHE_S3_PROFILE",
    "KACHE_S3_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL",
    "AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE", "AWS_EC2_METADATA_DISABLED"};

// The daemon makes one S3 backend per worker thread: they share one credential provider, so
// that the chain (an STS call, a credential_process) runs once and refreshes once, not per
// thread. Held weakly: a provider lives as long as a backend uses it.
std::shared_ptr<CredentialProvider> shared_provider(const RemoteSpec& spec, const EnvLookup& env) {
    std::string key = spec.url;
    for (const auto& [k, v] : spec.options) key += "\n" + k + "=" + v;
    for (auto name : k_chain_vars) {
        auto v = env(name);
        key += "\n" + std::string(name) + (v ? "=" + *v : "");
    }
    static std::mutex mu;
    static std::map<std::string, std::weak_ptr<CredentialProvider>> providers;
    std::lock_guard lock(mu);
    std::erase_if(providers, [](const auto& kv) { return kv.second.expired(); });
    if (auto it = providers.find(key); it != providers.end())
        if (auto p = it->second.lock()) return p;
    auto p = CredentialProvider::from_source(default_chain(spec, env));
    providers[key] = p;
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

    // The profile: named explicitly for kache, or the AWS default (its region is used).
    std::optional<std::string> explicit_profile = l.var("KACHE_S3_PROFILE");
    if (!explicit_profile) explicit_profile = l.option("profile");
    const std::string profile_name = explicit_profile ? *explicit_profile : first({l.var("AWS_PROFILE"), "default"});
    const detail::AwsProfile profile = detail::read_aws_profile(env, profile_name);
    if (explicit_profile) cfg.profile = profile_name;

    // Credentials: the chain is asked once now, so that a missing or half-set key pair is
    // reported here; the provider keeps asking the link that answered as they near expiry.
    // A source that is configured but cannot answer now (STS down) is asked again per request.
    cfg.credentials = shared_provider(spec, env);
    if (auto creds = cfg.credentials->current()) {
        cfg.access_key = creds->access_key;
        cfg.secret_key = creds->secret_key;
        cfg.session_token = creds->session_token;
        cfg.credential_source = creds->source;
        if (cfg.profile.empty() && creds->source.starts_with("profile '" + profile_name + "'"))
            cfg.profile = profile_name;
    } else if (creds.error().kind == ErrorKind::config) {
        return std::unexpected(creds.error());
    }

    cfg.region = first({l.var("KACHE_S3_REGION"), l.option("region"), l.var("AWS_REGION"),
                        l.var("AWS_DEFAULT_REGION"),
                        profile.get("region").empty() ? std::nullopt : std::optional(profile.get("region")),
                        "us-east-1"});
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
