// kache/remote/s3.hpp — the S3 backend: requests signed with SigV4, over libcurl.
//
//   auto cfg = kache::remote::resolve_s3_config(spec);          // URL + options + environment
//   if (!cfg) { warn(cfg.error().message); return; }
//   auto s3 = kache::remote::S3Backend::create(*cfg);
//   if (s3) (*s3)->put("v1/packs/serde/k.pack", "/tmp/k.pack", Overwrite::no);
//
// Objects live at <endpoint>/<bucket>/<prefix>/<key> (path-style) or
// <bucket>.<endpoint host>/<prefix>/<key> (virtual-hosted, the default for AWS; see s3_url.hpp).
// Transient failures (connection
// errors, timeouts, 5xx, 429 and 503 SlowDown) are retried with exponential backoff and
// full jitter; what is left is reported with an ErrorKind that says whether a later retry
// can help, and a message that names the fix.
//
// Thread safety: one S3Backend may be shared by any number of threads. Each call borrows a
// libcurl easy handle from the backend's pool (created on first need, returned after the
// call), so concurrent calls run in parallel and each handle keeps its connection alive
// for the next call.
#pragma once

#include <kache/remote.hpp>
#include <kache/remote/credentials.hpp>
#include <kache/remote/s3_url.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace kache::remote {

// How long to wait for a TCP (and TLS) connection to be established.
inline constexpr std::chrono::milliseconds k_default_connect_timeout{5'000};
// A transfer slower than k_default_low_speed_limit bytes/s for this long is abandoned
// (and retried): it catches a stalled server without capping the size of an object.
inline constexpr std::chrono::seconds k_default_low_speed_time{20};
inline constexpr std::uint32_t k_default_low_speed_limit = 1'024; // bytes per second
// A bounded GET (get_bounded) must end within k_default_get_time_floor + max_bytes /
// k_default_get_min_rate (the length the reply announces, when smaller, instead of
// max_bytes), and each LIST page within the floor + its in-memory bound at that rate: the
// low-speed limit alone lets a server dribble a body just above it for ever. The floor
// allows a slow start on a loaded link; 64 KiB/s is far below any link a remote cache is
// worth using over.
inline constexpr std::chrono::milliseconds k_default_get_time_floor{120'000};
inline constexpr std::uint64_t k_default_get_min_rate = 64u << 10; // bytes per second
// ListObjectsV2 pages one list() follows at most: k_max_list_keys at 1 000 keys a page,
// twice over for a server that fills its pages less.
inline constexpr std::size_t k_max_list_pages = 2 * k_max_list_keys / 1'000;
// A continuation token longer than this is not S3's (they are a few hundred bytes); every
// token is remembered to catch a repeat, so their size is bounded too.
inline constexpr std::size_t k_max_continuation_token_bytes = 4'096;
// Attempts per operation, the first included.
inline constexpr unsigned k_default_max_attempts = 5;
// Backoff before retry n (1-based) is uniform in [0, min(max, base * 2^(n-1))] ("full jitter").
inline constexpr std::chrono::milliseconds k_default_retry_base_delay{100};
inline constexpr std::chrono::milliseconds k_default_retry_max_delay{5'000};
// Objects larger than this go up in parts (CreateMultipartUpload, UploadPart, Complete).
inline constexpr std::uint64_t k_default_multipart_threshold = 64ull << 20;
inline constexpr std::uint64_t k_default_multipart_part_size = 16ull << 20;
// S3's limits: every part but the last is at least 5 MiB; an upload has at most 10 000 parts.
inline constexpr std::uint64_t k_min_multipart_part_size = 5ull << 20;
inline constexpr std::uint64_t k_max_multipart_parts = 10'000;

// When and how often a failed request is tried again.
struct RetryPolicy {
    unsigned max_attempts = k_default_max_attempts; // 1 disables retries
    std::chrono::milliseconds base_delay = k_default_retry_base_delay;
    std::chrono::milliseconds max_delay = k_default_retry_max_delay;
};

// Everything the S3 backend needs, resolved (see resolve_s3_config).
struct S3Config {
    std::string endpoint;             // "https://s3.eu-west-1.amazonaws.com", "http://127.0.0.1:9000"
    std::string bucket;
    std::string region = "us-east-1"; // the region in the signature's scope
    std::string prefix;               // prepended to every key ("team/cache"), no leading/trailing '/'
    std::string profile;              // the ~/.aws profile the credentials came from, if any
    // Signs every request; refreshes temporary credentials. When null, create() makes a
    // fixed provider from the four fields below.
    std::shared_ptr<CredentialProvider> credentials;
    // The credentials as first resolved (a snapshot: the provider has the current ones).
    std::string access_key;
    std::string secret_key;
    std::string session_token;        // for temporary (STS) credentials
    std::string credential_source;    // where the keys came from ("environment AWS_ACCESS_KEY_ID", ...)

    RetryPolicy retry;
    std::chrono::milliseconds connect_timeout = k_default_connect_timeout;
    std::chrono::seconds low_speed_time = k_default_low_speed_time;
    std::uint32_t low_speed_limit = k_default_low_speed_limit;
    std::chrono::milliseconds get_time_floor = k_default_get_time_floor;
    std::uint64_t get_min_rate = k_default_get_min_rate; // bytes per second

    // Transport: how the bucket is addressed, which CAs are trusted, when uploads split.
    S3AddressingStyle addressing_style = S3AddressingStyle::automatic;
    std::string ca_bundle;        // PEM file of trusted CAs (CURLOPT_CAINFO); empty: the system store
    std::string ca_bundle_source; // the setting it came from, for messages ("AWS_CA_BUNDLE", ...)
    std::uint64_t multipart_threshold = k_default_multipart_threshold; // bytes; larger objects go in parts
    std::uint64_t multipart_part_size = k_default_multipart_part_size; // grown to keep ≤ 10 000 parts
};

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The process environment (getenv).
EnvLookup process_environment();

// Builds an S3Config from spec ("s3://bucket/prefix" and its options) and the environment.
// For each setting the first that is set wins:
//   bucket/prefix:  KACHE_S3_BUCKET / KACHE_S3_PREFIX, options "bucket"/"prefix", the URL
//   endpoint:       KACHE_S3_ENDPOINT, option "endpoint", AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
//                   https://s3.<region>.amazonaws.com
//   region:         KACHE_S3_REGION, option "region", AWS_REGION, AWS_DEFAULT_REGION, the
//                   profile's region in ~/.aws/config, us-east-1
//   credentials:    the default chain (credentials.hpp, default_chain): KACHE_S3_ACCESS_KEY +
//                   KACHE_S3_SECRET_KEY (+ KACHE_S3_SESSION_TOKEN); options "access_key" +
//                   "secret_key" (+ "session_token"); the profile named by KACHE_S3_PROFILE or
//                   option "profile", if one is; AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
//                   (+ AWS_SESSION_TOKEN); web identity; the profile AWS_PROFILE (default
//                   "default") in ~/.aws/credentials and ~/.aws/config (static keys,
//                   credential_process, role_arn); container credentials; instance metadata.
//                   The chain is asked once here; cfg.credentials refreshes later.
//   tuning:         options "max_attempts", "connect_timeout_ms", "low_speed_time_s".
//   addressing:     KACHE_S3_ADDRESSING_STYLE, option "addressing_style" (auto|path|virtual), auto
//   CA bundle:      KACHE_S3_CA_BUNDLE, option "ca_bundle", AWS_CA_BUNDLE (must be a readable file)
//   multipart:      options "multipart_threshold" (default 64 MiB) and "multipart_part_size"
//                   (default 16 MiB, at least 5 MiB), sizes as "8MiB" or bytes
// ErrorKind::config, with the variable to set, when no bucket or no credentials are found
// or a value is malformed.
Result<S3Config> resolve_s3_config(const RemoteSpec& spec, const EnvLookup& env = process_environment());

// The part size a multipart upload of object_size bytes uses: configured, at least
// k_min_multipart_part_size, grown to a whole MiB that keeps the parts ≤ k_max_multipart_parts.
std::uint64_t s3_multipart_part_size(std::uint64_t object_size, std::uint64_t configured);

class S3Backend final : public RemoteBackend {
public:
    // Validates cfg and creates the backend; no request is made yet. ErrorKind::config for
    // an empty bucket, a malformed endpoint, or plain http:// to a host that is not loopback
    // (127.0.0.0/8, localhost, [::1]): credentials must not cross a network unencrypted.
    static Result<std::unique_ptr<S3Backend>> create(S3Config cfg);

    ~S3Backend() override;

    // HEAD. True if the object exists, false if not; a missing bucket is ErrorKind::config.
    Result<bool> exists(const std::string& key) override;
    // GET into a temp file beside dest, checked against Content-Length, then renamed onto
    // dest. On failure dest does not exist. ErrorKind::not_found if there is no such object.
    Result<void> get(const std::string& key, const std::filesystem::path& dest) override;
    // get(), stopped as soon as the reply announces or sends more than max_bytes (ErrorKind::
    // corrupt, not retried: the object is the same next time), and given at most
    // get_time_floor + max_bytes / get_min_rate per attempt (ErrorKind::timeout).
    Result<void> get_bounded(const std::string& key, const std::filesystem::path& dest,
                             std::uint64_t max_bytes) override;
    // PUT, streaming src from disk (read twice: once for its SHA-256, once to send it).
    // Above multipart_threshold: a multipart upload, each part streamed by pread with its
    // own SHA-256 and retried on its own; any failure aborts the upload (no orphaned parts).
    // Memory stays at one read buffer whatever the size. Overwrite::no sends If-None-Match: *
    // (on the single PUT or on CompleteMultipartUpload), and an existing object gives ErrorKind::conflict
    // (also when an earlier attempt of this same call stored it and only its reply was lost).
    Result<void> put(const std::string& key, const std::filesystem::path& src, Overwrite overwrite) override;
    // ListObjectsV2, every page. Keys are returned relative to the configured prefix. More
    // than k_max_list_pages pages or k_max_list_keys keys is ErrorKind::server.
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override;
    // DELETE; a missing object is success.
    Result<void> remove(const std::string& key) override;
    // "s3://bucket/prefix at <endpoint>"
    std::string describe() const override;
    // Where the credentials in use come from ("web identity (role ...)"), or the error that
    // fetching them gives.
    Result<std::string> credential_source() const;

    // The configuration in use (credentials included: do not print it whole).
    const S3Config& config() const noexcept { return cfg_; }

private:
    struct Impl;
    explicit S3Backend(S3Config cfg, std::unique_ptr<Impl> impl);
    Result<void> get_at_most(const std::string& key, const std::filesystem::path& dest,
                             std::optional<std::uint64_t> max_bytes);

    S3Config cfg_;
    std::unique_ptr<Impl> impl_;
};

} // namespace kache::remote
