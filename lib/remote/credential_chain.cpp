// The default credential chain, in the AWS SDKs' order, with kache's own settings first.
// The first link that is configured answers; a link that is configured but fails stops the
// chain (a broken role is reported, never silently replaced by a weaker identity).
#include <kache/remote/credentials.hpp>

#include "aws_profile.hpp"

#include <vector>

namespace kache::remote {

namespace {

// role_arn -> source_profile -> role_arn ... is followed this deep, no further (a loop).
inline constexpr int k_max_profile_depth = 4;
constexpr std::string_view k_session_name = "kache";

using Fetched = Result<std::optional<Credentials>>;

std::optional<std::string> var(const EnvLookup& env, std::string_view name) {
    auto v = env(name);
    if (v && !v->empty()) return v;
    return std::nullopt;
}

std::optional<std::string> option(const RemoteSpec& spec, const std::string& name) {
    auto it = spec.options.find(name);
    if (it != spec.options.end() && !it->second.empty()) return it->second;
    return std::nullopt;
}

// A pair of long-term keys (and maybe a session token); half a pair is a mistake to report.
Fetched key_pair(std::optional<std::string> ak, std::optional<std::string> sk, std::optional<std::string> tok,
                 const std::string& ak_name, const std::string& sk_name, std::string source) {
    if (!ak && !sk) return std::nullopt;
    if (!ak || !sk)
        return fail(ErrorKind::config,
                    (ak ? ak_name : sk_name) + " is set but " + (ak ? sk_name : ak_name) + " is not: set both");
    return Credentials{*ak, *sk, tok.value_or(""), std::nullopt, std::move(source)};
}

std::string session_name(const EnvLookup& env, const detail::AwsProfile* p) {
    if (p && !p->get("role_session_name").empty()) return p->get("role_session_name");
    if (auto v = var(env, "AWS_ROLE_SESSION_NAME")) return *v;
    return std::string(k_session_name);
}

// The region STS is asked in: the usual AWS settings, then the profile's, then the bucket's.
std::string sts_region(const RemoteSpec& spec, const EnvLookup& env, const detail::AwsProfile* p) {
    if (auto v = var(env, "AWS_REGION")) return *v;
    if (auto v = var(env, "AWS_DEFAULT_REGION")) return *v;
    if (p && !p->get("region").empty()) return p->get("region");
    if (auto v = var(env, "KACHE_S3_REGION")) return *v;
    if (auto v = option(spec, "region")) return *v;
    return "us-east-1";
}

Fetched web_identity(const RemoteSpec& spec, const EnvLookup& env) {
    auto file = var(env, "AWS_WEB_IDENTITY_TOKEN_FILE");
    auto role = var(env, "AWS_ROLE_ARN");
    if (!file && !role) return std::nullopt;
    if (!file || !role)
        return fail(ErrorKind::config, std::string(file ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN") +
                                           " is set but " + (file ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE") +
                                           " is not: set both for web identity");
    auto creds = assume_role_with_web_identity(sts_target(env, sts_region(spec, env, nullptr)), *role,
                                               session_name(env, nullptr), *file);
    if (!creds) return std::unexpected(creds.error());
    return *creds;
}

// The credentials profile `name` gives. `must_exist`: a profile named explicitly that is
// missing, or holds no credentials, is an error; the default one is simply skipped.
Fetched from_profile(const RemoteSpec& spec, const EnvLookup& env, const std::string& name, bool must_exist,
                     int depth) {
    const auto p = detail::read_aws_profile(env, name);
    if (!p.found) {
        if (!must_exist) return std::nullopt;
        return fail(ErrorKind::config, "AWS profile '" + name + "' is in neither " +
                                           detail::aws_file(env, "AWS_SHARED_CREDENTIALS_FILE", "credentials").string() +
                                           " nor " + detail::aws_file(env, "AWS_CONFIG_FILE", "config").string());
    }
    if (auto role = p.get("role_arn"); !role.empty()) {
        if (depth >= k_max_profile_depth)
            return fail(ErrorKind::config, "AWS profile '" + name + "': source_profile chains deeper than " +
                                               std::to_string(k_max_profile_depth) + " (a loop?): fix source_profile");
        Fetched base = std::nullopt;
        const std::string src = p.get("source_profile");
        const std::string cs = p.get("credential_source");
        if (!src.empty()) {
            // The source profile's own keys (its role_arn too, but one hop at a time).
            auto opt = [&](const char* k) { return p.get(k).empty() ? std::nullopt : std::optional(p.get(k)); };
            base = src == name ? key_pair(opt("aws_access_key_id"), opt("aws_secret_access_key"),
                                          opt("aws_session_token"), "aws_access_key_id", "aws_secret_access_key",
                                          p.where("aws_access_key_id"))
                               : from_profile(spec, env, src, true, depth + 1);
        } else if (cs == "Environment") {
            base = key_pair(var(env, "AWS_ACCESS_KEY_ID"), var(env, "AWS_SECRET_ACCESS_KEY"),
                            var(env, "AWS_SESSION_TOKEN"), "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                            "environment AWS_ACCESS_KEY_ID");
        } else if (cs == "EcsContainer") {
            base = container_credentials(env)();
        } else if (cs == "Ec2InstanceMetadata") {
            base = instance_metadata_credentials(env)();
        } else if (!p.get("web_identity_token_file").empty()) {
            auto creds = assume_role_with_web_identity(sts_target(env, sts_region(spec, env, &p)), role,
                                                       session_name(env, &p), p.get("web_identity_token_file"));
            if (!creds) return std::unexpected(creds.error());
            return *creds;
        } else {
            return fail(ErrorKind::config, p.where("role_arn") +
                                               " has role_arn but no source_profile or credential_source: add one");
        }
        if (!base) return std::unexpected(base.error());
        if (!*base)
            return fail(ErrorKind::config, p.where("role_arn") + ": its source (" + (src.empty() ? cs : src) +
                                               ") has no credentials: fix source_profile / credential_source");
        auto creds = assume_role(sts_target(env, sts_region(spec, env, &p)), role, session_name(env, &p), **base,
                                 p.get("external_id"));
        if (!creds) return std::unexpected(creds.error());
        creds->source = "role " + role + " in " + p.where("role_arn") + " (source " + (**base).source + ")";
        return *creds;
    }
    if (!p.get("aws_access_key_id").empty() || !p.get("aws_secret_access_key").empty()) {
        auto ak = p.get("aws_access_key_id"), sk = p.get("aws_secret_access_key"), tok = p.get("aws_session_token");
        if (ak.empty() || sk.empty())
            return fail(ErrorKind::config, p.where(ak.empty() ? "aws_secret_access_key" : "aws_access_key_id") +
                                               " has half a key pair: set aws_access_key_id and aws_secret_access_key");
        return Credentials{ak, sk, tok, std::nullopt, p.where("aws_access_key_id")};
    }
    if (auto cmd = p.get("credential_process"); !cmd.empty()) {
        auto creds = run_credential_process(cmd, "credential_process in profile '" + name + "'");
        if (!creds) return std::unexpected(creds.error());
        return *creds;
    }
    if (!p.get("sso_start_url").empty() || !p.get("sso_session").empty())
        return fail(ErrorKind::config, p.where(p.get("sso_session").empty() ? "sso_start_url" : "sso_session") +
                                           " uses AWS SSO, which kache does not read itself: add credential_process "
                                           "= aws configure export-credentials --profile " + name + " --format process");
    if (!must_exist) return std::nullopt;
    return fail(ErrorKind::config, "AWS profile '" + name + "' holds no credentials (no aws_access_key_id, "
                                   "credential_process or role_arn): add them");
}

} // namespace

CredentialSource default_chain(const RemoteSpec& spec, const EnvLookup& env) {
    std::optional<std::string> explicit_profile = var(env, "KACHE_S3_PROFILE");
    if (!explicit_profile) explicit_profile = option(spec, "profile");
    std::vector<CredentialSource> links;
    links.push_back([spec, env] {
        return key_pair(var(env, "KACHE_S3_ACCESS_KEY"), var(env, "KACHE_S3_SECRET_KEY"), var(env, "KACHE_S3_SESSION_TOKEN"),
                        "KACHE_S3_ACCESS_KEY", "KACHE_S3_SECRET_KEY", "environment KACHE_S3_ACCESS_KEY");
    });
    links.push_back([spec, env] {
        return key_pair(option(spec, "access_key"), option(spec, "secret_key"), option(spec, "session_token"),
                        "remote option access_key", "remote option secret_key", "the [remote] access_key option");
    });
    if (explicit_profile)
        links.push_back([spec, env, name = *explicit_profile] { return from_profile(spec, env, name, true, 0); });
    links.push_back([env] {
        return key_pair(var(env, "AWS_ACCESS_KEY_ID"), var(env, "AWS_SECRET_ACCESS_KEY"), var(env, "AWS_SESSION_TOKEN"),
                        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "environment AWS_ACCESS_KEY_ID");
    });
    links.push_back([spec, env] { return web_identity(spec, env); });
    if (!explicit_profile)
        links.push_back([spec, env] {
            return from_profile(spec, env, var(env, "AWS_PROFILE").value_or("default"), false, 0);
        });
    links.push_back(container_credentials(env));
    links.push_back(instance_metadata_credentials(env));

    // The link that answered first is asked again on refresh (the provider serialises calls).
    auto chosen = std::make_shared<std::optional<std::size_t>>();
    return [links = std::move(links), chosen]() -> Fetched {
        if (*chosen) return links[**chosen]();
        for (std::size_t i = 0; i < links.size(); ++i) {
            Fetched r = links[i]();
            if (!r || *r) {
                if (r) *chosen = i;
                return r;
            }
        }
        return std::nullopt;
    };
}

} // namespace kache::remote
