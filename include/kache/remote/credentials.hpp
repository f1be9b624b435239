// kache/remote/credentials.hpp — AWS credentials: what a source hands out, the sources of
// the SDKs' default chain, and a provider that refreshes temporary credentials before they
// expire (the daemon is long-lived; an STS or metadata credential lasts about an hour).
//
//   auto provider = kache::remote::CredentialProvider::create(spec, env);  // the chain
//   auto creds = provider->current();        // cached; refreshed k_refresh_margin before expiry
//   if (creds) sign_with(creds->access_key, creds->secret_key, creds->session_token);
//   log("credentials from " + creds->source);   // "web identity (AWS_ROLE_ARN=...)", "IMDSv2", ...
#pragma once

#include <kache/error.hpp>
#include <kache/remote.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace kache::remote {

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// Temporary credentials are fetched again this long before they expire.
inline constexpr std::chrono::minutes k_refresh_margin{5};
// A credential endpoint (STS, container, instance metadata) must answer within this long;
// the metadata service is link-local and answers in milliseconds when it exists at all.
inline constexpr std::chrono::milliseconds k_credential_endpoint_timeout{5'000};
// Bodies larger than this from a credential endpoint or credential_process are refused.
inline constexpr std::size_t k_max_credential_reply = 64 * 1024;
// A credential_process must print its answer within this long (it may run a login helper).
inline constexpr std::chrono::seconds k_credential_process_timeout{30};
// A source that answered this recently is not asked again: not for credentials due for
// refresh as soon as they arrive (a source handing out short lives), nor because a server
// refused them (CredentialProvider::reject).
inline constexpr std::chrono::seconds k_min_refresh_spacing{1};

// After a failed refresh the source is asked again no sooner than this (still-valid
// credentials are used meanwhile; without any, requests fail fast with the last error).
inline constexpr std::chrono::seconds k_refresh_retry_interval{10};
// How long STS is asked to make the credentials last (its default, and a role's minimum max).
inline constexpr std::chrono::seconds k_sts_duration{3600};

struct Credentials {
    std::string access_key;
    std::string secret_key;
    std::string session_token; // empty for long-term keys
    // When they stop working; std::nullopt for long-term keys (never refreshed).
    std::optional<std::chrono::system_clock::time_point> expiration;
    // Where they came from, for `kache doctor` and messages: never a secret.
    std::string source;
};

// One link of the chain. fetch() returns:
//   std::nullopt       — this source is not configured here (the chain moves on);
//   Credentials        — it is configured and answered;
//   an Error           — it is configured but failed (the chain stops: a broken role is
//                        reported, not silently replaced by a weaker source).
using CredentialSource = std::function<Result<std::optional<Credentials>>()>;

// The sources in the SDKs' order (each in credential_sources.cpp or its own file):
//   explicit KACHE_S3_ACCESS_KEY/_SECRET_KEY/_SESSION_TOKEN (and the remote's options);
//   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN;
//   web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME) through
//     STS AssumeRoleWithWebIdentity at AWS_ENDPOINT_URL_STS or the regional STS endpoint;
//   the profile (KACHE_S3_PROFILE / AWS_PROFILE / default) in ~/.aws: static keys,
//     credential_process, role_arn with source_profile (STS AssumeRole), SSO token caches;
//   container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI with
//     AWS_CONTAINER_AUTHORIZATION_TOKEN or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
//   instance metadata (IMDSv2 token first): AWS_EC2_METADATA_SERVICE_ENDPOINT,
//     AWS_EC2_METADATA_DISABLED.
CredentialSource container_credentials(const EnvLookup& env);
CredentialSource instance_metadata_credentials(const EnvLookup& env);

// The whole chain for a remote (credential_chain.cpp): the first link that is configured
// answers, and later refreshes ask that same link again. Answers std::nullopt when no
// link is configured. Reads nothing and makes no request until it is called.
CredentialSource default_chain(const RemoteSpec& spec, const EnvLookup& env);

// ---- the pieces of the chain, exposed for tests and fuzzing ----------------------------------

// "2026-12-06T17:00:00Z", with optional fractional seconds and a "Z" or "+hh:mm" offset
// (required), years 1970 to 2200. The one timestamp parser: credential expirations
// (STS, credential_process, container, instance metadata) and S3 listings.
Result<std::chrono::system_clock::time_point> parse_iso8601(std::string_view text);
// A credential_process's JSON ({"Version": 1, "AccessKeyId", "SecretAccessKey",
// "SessionToken", "Expiration"}), untrusted. ErrorKind::invalid_input when malformed.
Result<Credentials> parse_process_credentials(std::string_view json, std::string source);
// An STS AssumeRole* response (XML, <Credentials> with AccessKeyId, SecretAccessKey,
// SessionToken, Expiration), untrusted. ErrorKind::invalid_input when malformed.
Result<Credentials> parse_sts_credentials(std::string_view xml, std::string source);
// Runs `sh -c command` with no stdin, reads its stdout (at most k_max_credential_reply)
// and parses it; the process group is killed after `timeout`.
Result<Credentials> run_credential_process(const std::string& command, std::string source,
                                           std::chrono::milliseconds timeout = k_credential_process_timeout);

// Where STS is asked (sts.cpp): AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, or the regional
// endpoint https://sts.<region>.amazonaws.com; signed for `region`.
struct StsTarget {
    std::string endpoint;
    std::string region;
};
StsTarget sts_target(const EnvLookup& env, const std::string& region);
// AssumeRoleWithWebIdentity (unsigned): the token is read from token_file on every call.
Result<Credentials> assume_role_with_web_identity(const StsTarget& sts, const std::string& role_arn,
                                                  const std::string& session_name, const std::string& token_file);
// AssumeRole, signed with the source credentials.
Result<Credentials> assume_role(const StsTarget& sts, const std::string& role_arn, const std::string& session_name,
                                const Credentials& source_creds, const std::string& external_id = {});

// Holds the chain's answer and refreshes it. Thread-safe: any number of request threads
// call current(); one refreshes while the others keep using credentials still valid.
class CredentialProvider {
public:
    // A provider over fixed credentials (tests, embedders).
    static std::shared_ptr<CredentialProvider> fixed(Credentials creds);
    // A provider over one source (refreshed through it).
    static std::shared_ptr<CredentialProvider> from_source(CredentialSource source);

    // The credentials to sign with now; fetched on first use and again when fewer than
    // k_refresh_margin remain. An error when no source answers (message names the fix).
    Result<Credentials> current();

    // The server refused `used` as expired or revoked (ExpiredToken and kin) before the
    // time they claim to last: a clock that is off, a session revoked early. Unless the
    // source answered within the last k_min_refresh_spacing (a source that hands out the
    // same refused token again is not asked on every request), the next current() asks
    // the source at once. True when signing again with current() may get another answer.
    bool reject(const Credentials& used);

private:
    explicit CredentialProvider(CredentialSource source);
    CredentialSource source_;
    std::mutex mu_;
    std::condition_variable refreshed_;
    std::optional<Credentials> cached_;
    bool refreshing_ = false;                             // one thread is asking the source
    std::optional<Error> last_error_;                     // of the last failed refresh
    std::chrono::steady_clock::time_point retry_after_{}; // no new attempt before this
    std::chrono::steady_clock::time_point fetched_at_{};  // when the source last answered
};

} // namespace kache::remote
