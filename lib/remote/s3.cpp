#include <kache/remote/cancel.hpp>
#include <kache/remote/s3.hpp>
#include <kache/remote/sigv4.hpp>
#include <kache/util/backoff.hpp>

#include "curl_transport.hpp"
#include "iso_time.hpp"
#include "object_key.hpp"
#include "posix_file.hpp"
#include "s3_call.hpp"
#include "s3_multipart.hpp"

#include <pugixml.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <functional>
#include <set>
#include <thread>

namespace kache::remote {

namespace {

namespace fs = std::filesystem;
using detail::HttpRequest;
using detail::HttpResponse;

// The fields of an S3 <Error> document that kache acts on.
struct S3Error {
    std::string code;
    std::string message;
    std::string region;   // AuthorizationHeaderMalformed: the region the server expects
    std::string endpoint; // PermanentRedirect: where the bucket lives
};

S3Error parse_error(const HttpResponse& resp) {
    S3Error e;
    if (!resp.body.empty()) {
        pugi::xml_document doc;
        if (doc.load_buffer(resp.body.data(), resp.body.size())) {
            pugi::xml_node err = doc.child("Error");
            e.code = err.child_value("Code");
            e.message = err.child_value("Message");
            e.region = err.child_value("Region");
            e.endpoint = err.child_value("Endpoint");
        }
    }
    if (e.region.empty())
        if (auto r = resp.header("x-amz-bucket-region")) e.region = *r;
    return e;
}

// S3's words for temporary credentials it no longer takes.
bool is_refused_token(const S3Error& e) {
    return e.code == "ExpiredToken" || e.code == "InvalidToken" || e.code == "TokenRefreshRequired";
}

bool is_retryable_status(long status, const S3Error& e) {
    if (status >= 500 || status == 429 || status == 408) return true;
    // S3's own words for "try again": a conditional write racing another one, a request
    // that took too long to arrive.
    return e.code == "ConditionalRequestConflict" || e.code == "RequestTimeout" || e.code == "SlowDown" ||
           e.code == "Throttling" || e.code == "ThrottlingException" || e.code == "InternalError";
}

std::string one_line(std::string s) {
    std::replace(s.begin(), s.end(), '\n', ' ');
    std::replace(s.begin(), s.end(), '\r', ' ');
    return s;
}

// Full jitter: retry n waits a uniform time in [0, min(max_delay, base_delay * 2^(n-1))].
util::Backoff backoff_of(const RetryPolicy& p) { return util::Backoff(p.base_delay, p.max_delay, util::Jitter::full); }

} // namespace

// ---- implementation ------------------------------------------------------------------------

struct S3Backend::Impl {
    const S3Config& cfg;
    S3BucketAddress at; // where requests go: path-style or virtual-hosted
    sigv4::Options sign_opts;
    detail::CurlTransport transport;
    std::atomic<bool> bucket_seen{false}; // a request on the bucket has succeeded

    Impl(const S3Config& c, S3BucketAddress a)
        : cfg(c), at(std::move(a)), sign_opts(sigv4::Options::s3(c.region)),
          transport(detail::TransportOptions{c.connect_timeout, c.low_speed_time, c.low_speed_limit,
                                             detail::k_first_byte_timeout, c.ca_bundle}) {}

    using Call = detail::S3Call;

    std::string target(const std::string& key) const {
        return "s3://" + cfg.bucket + (key.empty() ? "" : "/" + key);
    }

    std::string key_id_note() const {
        auto c = cfg.credentials->current();
        if (!c) return "the credentials (" + c.error().message + ")";
        return "access key id '" + c->access_key + "' from " +
               (c->source.empty() ? std::string("the configuration") : c->source);
    }

    HttpRequest build(const Call& call, const Credentials& c) const {
        const sigv4::Credentials creds{c.access_key, c.secret_key, c.session_token};
        // Host and path are signed exactly as they are sent.
        const std::string path = at.path_of(call.key);
        sigv4::Request sreq;
        sreq.method = call.method;
        sreq.path = path;
        sreq.query = call.query;
        sreq.headers.push_back({"Host", at.authority});
        sreq.headers.insert(sreq.headers.end(), call.headers.begin(), call.headers.end());
        sreq.payload_hash = call.payload_hash;
        auto signed_req = sigv4::sign_headers(sreq, creds, sign_opts, std::chrono::system_clock::now());

        HttpRequest http;
        http.method = call.method;
        // The query is sent in its canonical form so that the server sees what was signed.
        http.url = at.scheme + "://" + at.authority + path;
        if (!call.query.empty()) http.url += "?" + sigv4::canonical_query(call.query);
        for (const auto& h : sreq.headers) http.headers.emplace_back(h.name, h.value);
        for (const auto& h : signed_req.headers_to_add) http.headers.emplace_back(h.name, h.value);
        http.upload_fd = call.upload_fd;
        http.upload_offset = call.upload_offset;
        http.upload_size = call.upload_size;
        http.body = call.body;
        http.download_fd = call.download_fd;
        http.max_download = call.max_download;
        http.time_budget = call.time_budget;
        return http;
    }

    // Turns a final non-2xx response into an Error that says what to do.
    Error http_error(const Call& call, const HttpResponse& resp, unsigned attempts) const {
        S3Error e = parse_error(resp);
        std::string what = "S3 " + call.op + " " + target(call.key);
        std::string status = std::to_string(resp.status) + (e.code.empty() ? "" : " " + e.code);
        std::string detail = e.message.empty() ? "" : " (" + one_line(e.message) + ")";
        std::string tries = attempts > 1 ? " after " + std::to_string(attempts) + " attempts" : "";

        if (e.code == "NoSuchBucket")
            return {ErrorKind::config, "bucket '" + cfg.bucket + "' does not exist at " + cfg.endpoint +
                                           ": create it, or fix KACHE_S3_BUCKET / the remote URL"};
        if (e.code == "AuthorizationHeaderMalformed" || e.code == "PermanentRedirect" ||
            e.code == "IllegalLocationConstraintException" || resp.status == 301) {
            if (!e.region.empty() && e.region != cfg.region)
                return {ErrorKind::config, "bucket '" + cfg.bucket + "' at " + cfg.endpoint + " is in region '" +
                                               e.region + "', not '" + cfg.region + "': set KACHE_S3_REGION=" +
                                               e.region};
            std::string where = e.endpoint.empty() ? "" : " (the server names endpoint " + e.endpoint + ")";
            return {ErrorKind::config, what + ": " + status + detail + where +
                                           ": the region or endpoint is wrong; set KACHE_S3_REGION / "
                                           "KACHE_S3_ENDPOINT to the bucket's"};
        }
        // S3 answers ExpiredToken with 400, not 403.
        if (resp.status == 403 || e.code == "InvalidAccessKeyId" || e.code == "SignatureDoesNotMatch" || is_refused_token(e)) {
            if (e.code == "SignatureDoesNotMatch")
                return {ErrorKind::denied, what + ": " + status + ": the secret key does not match " +
                                               key_id_note() + "; fix the secret key"};
            if (e.code == "InvalidAccessKeyId")
                return {ErrorKind::denied, what + ": " + status + ": " + cfg.endpoint + " does not know " +
                                               key_id_note()};
            if (e.code == "RequestTimeTooSkewed")
                return {ErrorKind::denied, what + ": " + status +
                                               ": this machine's clock is more than 15 minutes off the server's; "
                                               "fix the system time"};
            if (is_refused_token(e))
                return {ErrorKind::denied, what + ": " + status + ": the session token for " + key_id_note() +
                                               " is no longer valid; refresh the credentials"};
            return {ErrorKind::denied, what + ": " + status + detail + ": permission denied for " +
                                           key_id_note()};
        }
        if (resp.status == 412 || e.code == "PreconditionFailed")
            return {ErrorKind::conflict, target(call.key) + " exists already"};
        if (e.code == "XAmzContentSHA256Mismatch" || e.code == "BadDigest" || e.code == "IncompleteBody")
            return {ErrorKind::io, what + ": " + status + ": the file changed while it was being uploaded"};
        if (resp.status == 404)
            return {ErrorKind::not_found, "no object " + target(call.key) + " at " + cfg.endpoint};
        if (resp.status == 429 || resp.status == 503 || e.code == "SlowDown" || e.code.starts_with("Throttl"))
            return {ErrorKind::throttled, what + ": " + status + detail + ": the server is throttling requests" + tries};
        if (resp.status == 408 || e.code == "RequestTimeout")
            return {ErrorKind::timeout, what + ": " + status + detail + tries};
        if (resp.status >= 500 || e.code == "ConditionalRequestConflict")
            return {ErrorKind::server, what + ": " + status + detail + tries};
        return {ErrorKind::internal, what + ": unexpected " + status + detail};
    }

    Error transport_error(const Call& call, const detail::TransportError& te, unsigned attempts) const {
        std::string tries = attempts > 1 ? " (" + std::to_string(attempts) + " attempts)" : "";
        if (te.connect_failed)
            return {te.error.kind, "cannot reach the S3 endpoint " + cfg.endpoint + ": " + te.error.message + tries +
                                       "; check that the server is up and KACHE_S3_ENDPOINT is right"};
        if (te.error.kind == ErrorKind::config) {
            std::string fix = cfg.ca_bundle.empty()
                                  ? "; for a private endpoint set AWS_CA_BUNDLE or the remote option ca_bundle "
                                    "to its CA file"
                                  : "; the CA bundle " + cfg.ca_bundle + " (" + cfg.ca_bundle_source +
                                        ") does not vouch for it: fix AWS_CA_BUNDLE / ca_bundle";
            return {ErrorKind::config, "S3 endpoint " + cfg.endpoint + ": " + one_line(te.error.message) + fix};
        }
        // A reply past its bound: the same object (or server) gives the same reply again.
        std::string fix = te.error.kind != ErrorKind::corrupt ? ""
                          : call.op == "GET" ? "; kache never writes an object that large: remove it from the remote"
                                             : "; check that KACHE_S3_ENDPOINT names an S3 server";
        return {te.error.kind, "S3 " + call.op + " " + target(call.key) + " at " + cfg.endpoint + ": " +
                                   te.error.message + tries + fix};
    }

    // GET of a validated key into dest; without max_bytes no bound on its size or time.
    Result<void> download(const std::string& key, const std::filesystem::path& dest,
                          std::optional<std::uint64_t> max_bytes) {
        auto tmp = util::TempFile::create_beside(dest, "kache-get");
        if (!tmp) return std::unexpected(tmp.error());
        Call call("GET", "GET", detail::join_key(cfg.prefix, key));
        call.download_fd = tmp->fd();
        if (max_bytes) {
            call.max_download = *max_bytes;
            call.time_budget = {cfg.get_time_floor, cfg.get_min_rate};
        }
        auto resp = send(
            call, [&] { return tmp->reset(); },
            [&](const HttpResponse& r) -> std::optional<Error> {
                // libcurl notices a connection closed early; this also catches a proxy or
                // server that sends fewer bytes than it announced on a connection it keeps.
                auto len = r.header("content-length");
                if (len && *len != std::to_string(r.downloaded))
                    return Error{ErrorKind::network, "S3 GET " + target(call.key) + ": received " +
                                                         std::to_string(r.downloaded) + " bytes of " + *len};
                return std::nullopt;
            });
        if (!resp) return std::unexpected(resp.error());
        if (resp->status != 200) return std::unexpected(http_error(call, *resp, 1));
        return tmp->commit_replace(dest, false);
    }

    // Sends call, retrying what may succeed later. Returns the final HTTP response when it is
    // not a retryable failure (any status: the caller interprets it), otherwise an Error.
    // before_attempt runs before every attempt (to rewind a download); check may reject a
    // 2xx response (a short body) with an error, which is retried when retryable.
    Result<HttpResponse> send(const Call& call, const std::function<Result<void>()>& before_attempt = {},
                              const std::function<std::optional<Error>(const HttpResponse&)>& check = {}) {
        const unsigned max_attempts = std::max(1u, cfg.retry.max_attempts);
        Error last;
        bool token_refreshed = false;
        for (unsigned attempt = 1;; ++attempt) {
            if (before_attempt)
                if (auto r = before_attempt(); !r) return std::unexpected(r.error());
            // Asked per attempt: the daemon outlives temporary credentials.
            auto creds = cfg.credentials->current();
            if (!creds) return std::unexpected(creds.error());
            auto resp = transport.perform(build(call, *creds));
            bool retryable = false;
            if (!resp) {
                last = transport_error(call, resp.error(), attempt);
                retryable = last.retryable();
            } else if (resp->status >= 200 && resp->status < 300) {
                bucket_seen = true;
                std::optional<Error> bad = check ? check(*resp) : std::nullopt;
                if (!bad) return std::move(*resp);
                last = *bad;
                retryable = last.retryable();
            } else {
                S3Error e = parse_error(*resp);
                // Temporary credentials refused before their stated expiry (a clock off, a
                // session revoked): signed once more with freshly fetched ones.
                if (is_refused_token(e) && !token_refreshed && cfg.credentials->reject(*creds)) {
                    token_refreshed = true;
                    --attempt;
                    continue;
                }
                if (!is_retryable_status(resp->status, e)) return std::move(*resp);
                last = http_error(call, *resp, attempt);
                retryable = true;
            }
            if (!retryable || attempt >= max_attempts) return std::unexpected(last);
            // Interruptible: a stopping daemon does not wait out the backoff.
            if (!remote::sleep_unless_cancelled(backoff_of(cfg.retry).delay(attempt))) return std::unexpected(last);
        }
    }

    // Confirms that the bucket exists and the credentials may list it, so that a 404 from
    // HEAD (which has no body to tell "no such key" from "no such bucket") is trusted, and a
    // bodiless 4xx gets S3's explanation.
    Result<void> check_bucket() {
        if (bucket_seen) return ok();
        Call call("LIST", "GET");
        call.query = {{"list-type", "2"}, {"max-keys", "1"}};
        if (!cfg.prefix.empty()) call.query.push_back({"prefix", cfg.prefix + "/"});
        auto resp = send(call);
        if (!resp) return std::unexpected(resp.error());
        if (resp->status >= 200 && resp->status < 300) return ok();
        return std::unexpected(http_error(call, *resp, 1));
    }
};

// ---- the backend ---------------------------------------------------------------------------

Result<std::unique_ptr<S3Backend>> S3Backend::create(S3Config cfg) {
    if (cfg.bucket.empty())
        return fail(ErrorKind::config, "no S3 bucket configured: set KACHE_S3_BUCKET or remote = \"s3://bucket/prefix\"");
    if (cfg.bucket.find('/') != std::string::npos)
        return fail(ErrorKind::config, "S3 bucket name '" + cfg.bucket + "' contains '/': put the rest in the prefix");
    if (cfg.region.empty()) return fail(ErrorKind::config, "no S3 region configured: set KACHE_S3_REGION");
    if (!cfg.credentials && !cfg.access_key.empty() && !cfg.secret_key.empty())
        cfg.credentials = CredentialProvider::fixed(
            {cfg.access_key, cfg.secret_key, cfg.session_token, std::nullopt, cfg.credential_source});
    if (!cfg.credentials)
        return fail(ErrorKind::config, "no S3 credentials: set KACHE_S3_ACCESS_KEY and KACHE_S3_SECRET_KEY, or "
                                       "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials");
    auto prefix = detail::normalize_root_prefix(cfg.prefix);
    if (!prefix) return fail(ErrorKind::config, "S3 prefix: " + prefix.error().message);
    cfg.prefix = *prefix;
    while (!cfg.endpoint.empty() && cfg.endpoint.back() == '/') cfg.endpoint.pop_back();
    auto ep = parse_s3_endpoint(cfg.endpoint);
    if (!ep) return std::unexpected(ep.error());
    auto at = address_bucket(*ep, cfg.bucket, cfg.addressing_style);

    auto backend = std::unique_ptr<S3Backend>(new S3Backend(std::move(cfg), nullptr));
    backend->impl_ = std::make_unique<Impl>(backend->cfg_, std::move(at));
    return backend;
}

S3Backend::S3Backend(S3Config cfg, std::unique_ptr<Impl> impl) : cfg_(std::move(cfg)), impl_(std::move(impl)) {}

S3Backend::~S3Backend() = default;

std::string S3Backend::describe() const {
    return "s3://" + cfg_.bucket + (cfg_.prefix.empty() ? "" : "/" + cfg_.prefix) + " at " + cfg_.endpoint;
}

Result<std::string> S3Backend::credential_source() const {
    auto c = cfg_.credentials->current();
    if (!c) return std::unexpected(c.error());
    return c->source;
}

Result<bool> S3Backend::exists(const std::string& key) {
    if (auto v = detail::validate_key(key); !v) return std::unexpected(v.error());
    Impl::Call call("HEAD", "HEAD", detail::join_key(cfg_.prefix, key));
    auto resp = impl_->send(call);
    if (!resp) return std::unexpected(resp.error());
    if (resp->status >= 200 && resp->status < 300) return true;
    // HEAD responses have no body: ask the bucket what is wrong before trusting a status.
    if (auto b = impl_->check_bucket(); !b) return std::unexpected(b.error());
    if (resp->status == 404) return false;
    return std::unexpected(impl_->http_error(call, *resp, 1));
}

Result<void> S3Backend::get(const std::string& key, const std::filesystem::path& dest) {
    return get_at_most(key, dest, std::nullopt);
}

Result<void> S3Backend::get_bounded(const std::string& key, const std::filesystem::path& dest,
                                    std::uint64_t max_bytes) {
    return get_at_most(key, dest, max_bytes);
}

Result<void> S3Backend::get_at_most(const std::string& key, const std::filesystem::path& dest,
                                    std::optional<std::uint64_t> max_bytes) {
    if (auto v = detail::validate_key(key); !v) return std::unexpected(v.error());
    auto result = impl_->download(key, dest, max_bytes);
    if (!result) {
        // The contract: after a failed get, dest does not exist (no stale or partial file).
        std::error_code ec;
        std::filesystem::remove(dest, ec);
    }
    return result;
}

Result<void> S3Backend::put(const std::string& key, const std::filesystem::path& src, Overwrite overwrite) {
    if (auto v = detail::validate_key(key); !v) return std::unexpected(v.error());
    auto fd = detail::open_read(src);
    if (!fd) return std::unexpected(fd.error());
    struct stat st{};
    if (::fstat(fd->get(), &st) != 0) return std::unexpected(detail::errno_error(errno, "cannot stat", src));
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::invalid_input, src.string() + " is not a regular file");
    const auto size = static_cast<std::uint64_t>(st.st_size);
    const std::string full_key = detail::join_key(cfg_.prefix, key);
    if (size > cfg_.multipart_threshold) {
        auto r = detail::multipart_put([&](const Impl::Call& c) { return impl_->send(c); },
                                       [&](const Impl::Call& c, const HttpResponse& resp) {
                                           return impl_->http_error(c, resp, 1);
                                       },
                                       full_key, {fd->get(), size, src}, cfg_.multipart_part_size,
                                       overwrite == Overwrite::no);
        if (!r && r.error().kind == ErrorKind::io && r.error().message.find(src.string()) == std::string::npos)
            r.error().message = src.string() + ": " + r.error().message;
        return r;
    }

    // x-amz-content-sha256 must be known before the first byte is sent, so the file is read
    // twice rather than held in memory: packs can be large and the daemon uploads several.
    sigv4::Sha256 hash;
    std::vector<char> buf(1 << 20);
    for (std::uint64_t off = 0; off < size;) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), size - off));
        ssize_t n = ::pread(fd->get(), buf.data(), want, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(detail::errno_error(errno, "cannot read", src));
        if (n == 0) return fail(ErrorKind::io, src.string() + " shrank while it was being hashed");
        hash.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        off += static_cast<std::uint64_t>(n);
    }

    Impl::Call call("PUT", "PUT", full_key);
    call.payload_hash = hash.finish_hex();
    call.upload_fd = fd->get();
    call.upload_size = size;
    if (overwrite == Overwrite::no) call.headers.push_back({"If-None-Match", "*"});
    auto resp = impl_->send(call);
    if (!resp) {
        if (resp.error().kind == ErrorKind::io) resp.error().message = src.string() + ": " + resp.error().message;
        return std::unexpected(resp.error());
    }
    if (resp->status >= 200 && resp->status < 300) return ok();
    return std::unexpected(impl_->http_error(call, *resp, 1));
}

Result<std::vector<ObjectInfo>> S3Backend::list(const std::string& prefix) {
    if (auto v = detail::validate_prefix(prefix); !v) return std::unexpected(v.error());
    const std::string root = cfg_.prefix.empty() ? std::string() : cfg_.prefix + "/";
    std::vector<ObjectInfo> out;
    std::string token;
    std::set<std::string> seen_tokens; // a server repeating a token would loop forever
    auto refuse = [&](const std::string& why) {
        return fail(ErrorKind::server, "S3 LIST " + impl_->target(root + prefix) + " at " + cfg_.endpoint + ": " + why +
                                           "; check that KACHE_S3_ENDPOINT names an S3 server and that the "
                                           "prefix holds kache's objects alone");
    };
    for (std::size_t page = 1;; ++page) {
        // Fresh tokens for ever (with keys or without) would grow `out` without end.
        if (page > k_max_list_pages)
            return refuse("the listing runs past " + std::to_string(k_max_list_pages) + " pages, the most kache follows");
        Impl::Call call("LIST", "GET");
        call.query = {{"list-type", "2"}, {"prefix", root + prefix}};
        call.time_budget = {cfg_.get_time_floor, cfg_.get_min_rate};
        if (!token.empty()) call.query.push_back({"continuation-token", token});
        auto resp = impl_->send(call);
        if (!resp) return std::unexpected(resp.error());
        if (resp->status != 200) return std::unexpected(impl_->http_error(call, *resp, 1));

        pugi::xml_document doc;
        if (!doc.load_buffer(resp->body.data(), resp->body.size()))
            return fail(ErrorKind::server, "S3 LIST " + impl_->target(root + prefix) + ": the reply is not XML");
        pugi::xml_node result = doc.child("ListBucketResult");
        if (!result)
            return fail(ErrorKind::server, "S3 LIST " + impl_->target(root + prefix) + ": no ListBucketResult in the reply");
        for (pugi::xml_node c : result.children("Contents")) {
            std::string k = c.child_value("Key");
            if (!k.starts_with(root)) continue;
            if (out.size() >= k_max_list_keys)
                return refuse("the listing runs past " + std::to_string(k_max_list_keys) + " keys, the most kache keeps");
            out.push_back({k.substr(root.size()), c.child("Size").text().as_ullong(),
                           detail::parse_iso8601_utc(c.child_value("LastModified"))});
        }
        if (std::string_view(result.child_value("IsTruncated")) != "true") break;
        token = result.child_value("NextContinuationToken");
        if (token.size() > k_max_continuation_token_bytes)
            return refuse("a continuation token of " + std::to_string(token.size()) + " bytes, longer than S3's");
        if (token.empty() || !seen_tokens.insert(token).second)
            return fail(ErrorKind::server, "S3 LIST " + impl_->target(root + prefix) +
                                               ": a truncated page without a new continuation token");
    }
    return out;
}

Result<void> S3Backend::remove(const std::string& key) {
    if (auto v = detail::validate_key(key); !v) return std::unexpected(v.error());
    Impl::Call call("DELETE", "DELETE", detail::join_key(cfg_.prefix, key));
    auto resp = impl_->send(call);
    if (!resp) return std::unexpected(resp.error());
    if (resp->status >= 200 && resp->status < 300) return ok();
    if (resp->status == 404 && parse_error(*resp).code != "NoSuchBucket") return ok();
    return std::unexpected(impl_->http_error(call, *resp, 1));
}

} // namespace kache::remote
