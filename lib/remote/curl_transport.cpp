#include "curl_transport.hpp"

#include <kache/remote/cancel.hpp>

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#ifndef KACHE_VERSION
#define KACHE_VERSION "dev"
#endif

namespace kache::remote::detail {

namespace {

void global_init_once() {
    static std::once_flag flag;
    std::call_once(flag, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct SlistDeleter {
    void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct Upload {
    int fd = -1;
    std::uint64_t base = 0; // where the body starts in fd
    std::uint64_t size = 0;
    std::uint64_t offset = 0;
    int err = 0;          // errno of a failed read
    bool shrank = false;  // the file ended before `size` bytes
};

struct Download {
    CURL* easy = nullptr;
    int fd = -1;
    HttpResponse* resp = nullptr;
    std::uint64_t max = 0; // HttpRequest::max_download (for a body written to fd)
    int err = 0;           // errno of a failed write
    bool too_big = false;  // stopped: the body is longer than its bound
    std::uint64_t bound = 0;   // the bound it broke
    curl_off_t announced = -1; // its Content-Length, -1 if none
};

// Stops a body past its bound before a byte beyond it is kept.
bool over_bound(Download* d, std::uint64_t have, std::size_t more, std::uint64_t bound) {
    curl_easy_getinfo(d->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &d->announced);
    const bool claims_more = d->announced >= 0 && static_cast<std::uint64_t>(d->announced) > bound;
    if (!claims_more && have + more <= bound) return false;
    d->too_big = true;
    d->bound = bound;
    return true;
}

std::size_t on_read(char* buf, std::size_t size, std::size_t nitems, void* userdata) {
    auto* up = static_cast<Upload*>(userdata);
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size * nitems, up->size - up->offset));
    if (want == 0) return 0;
    while (true) {
        ssize_t n = ::pread(up->fd, buf, want, static_cast<off_t>(up->base + up->offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            up->err = errno;
            return CURL_READFUNC_ABORT;
        }
        if (n == 0) {
            up->shrank = true;
            return CURL_READFUNC_ABORT;
        }
        up->offset += static_cast<std::uint64_t>(n);
        return static_cast<std::size_t>(n);
    }
}

// libcurl rewinds the body when it resends a request, e.g. on a reused connection that
// the server had closed; without this the retry would fail.
int on_seek(void* userdata, curl_off_t offset, int origin) {
    auto* up = static_cast<Upload*>(userdata);
    if (origin != SEEK_SET || offset < 0 || static_cast<std::uint64_t>(offset) > up->size)
        return CURL_SEEKFUNC_CANTSEEK;
    up->offset = static_cast<std::uint64_t>(offset);
    return CURL_SEEKFUNC_OK;
}

std::size_t on_write(char* data, std::size_t size, std::size_t nmemb, void* userdata) {
    auto* d = static_cast<Download*>(userdata);
    std::size_t n = size * nmemb;
    long status = 0;
    curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
    if (d->fd >= 0 && status >= 200 && status < 300) {
        if (over_bound(d, d->resp->downloaded, n, d->max)) return 0; // CURLE_WRITE_ERROR
        const char* p = data;
        std::size_t left = n;
        while (left > 0) {
            ssize_t w = ::write(d->fd, p, left);
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                d->err = errno;
                return 0; // makes libcurl stop with CURLE_WRITE_ERROR
            }
            p += w;
            left -= static_cast<std::size_t>(w);
        }
        d->resp->downloaded += n;
        return n;
    }
    if (over_bound(d, d->resp->body.size(), n, k_max_memory_body)) return 0;
    d->resp->body.append(data, n);
    return n;
}

// What the progress callback watches: cancellation, the wait for the answer's first byte,
// and the exchange's total time.
struct Progress {
    std::chrono::milliseconds first_byte_timeout{};
    TimeBudget budget;
    std::uint64_t bound = 0; // the most body bytes the budget is for
    const std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point last_sent = start;
    curl_off_t sent = 0;
    bool answered = false;  // a header line arrived
    bool cancelled = false; // aborted by remote::cancel_transfers()
    bool no_answer = false; // aborted: no first byte within first_byte_timeout
    bool too_slow = false;  // aborted: past the time budget
    std::chrono::milliseconds allowed{}; // the budget it broke
};

// floor + bytes / min_rate, bytes the announced length (dltotal, 0 if none) within the bound.
std::chrono::milliseconds time_allowed(const Progress& p, curl_off_t dltotal) {
    const std::uint64_t bytes = dltotal > 0 ? std::min(p.bound, static_cast<std::uint64_t>(dltotal)) : p.bound;
    // In double, saturated at a century: no bound and rate overflow the milliseconds.
    const double ms = std::min(static_cast<double>(bytes) * 1000.0 / static_cast<double>(p.budget.min_rate), 3.2e12);
    return p.budget.floor + std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

int on_progress(void* userdata, curl_off_t dltotal, curl_off_t, curl_off_t, curl_off_t ulnow) {
    auto* p = static_cast<Progress*>(userdata);
    if (remote::transfers_cancelled()) {
        p->cancelled = true;
        return 1;
    }
    auto now = std::chrono::steady_clock::now();
    if (ulnow != p->sent) { // the body is still going out: the wait starts after its last byte
        p->sent = ulnow;
        p->last_sent = now;
    }
    if (!p->answered && p->first_byte_timeout.count() > 0 && now - p->last_sent > p->first_byte_timeout) {
        p->no_answer = true;
        return 1;
    }
    if (p->budget.min_rate > 0 && now - p->start > (p->allowed = time_allowed(*p, dltotal))) {
        p->too_slow = true;
        return 1;
    }
    return 0;
}

struct HeaderSink {
    HttpResponse* resp = nullptr;
    Progress* progress = nullptr;
};

std::size_t on_header(char* data, std::size_t size, std::size_t nitems, void* userdata) {
    auto* sink = static_cast<HeaderSink*>(userdata);
    sink->progress->answered = true;
    auto* resp = sink->resp;
    std::size_t n = size * nitems;
    std::string_view line(data, n);
    while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
    if (line.starts_with("HTTP/")) {
        // A new response (after "100 Continue", say): forget the previous one's headers.
        resp->headers.clear();
        return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    resp->headers.emplace_back(std::move(name), std::string(value));
    return n;
}

bool is_connect_failure(CURLcode c) {
    return c == CURLE_COULDNT_CONNECT || c == CURLE_COULDNT_RESOLVE_HOST || c == CURLE_COULDNT_RESOLVE_PROXY;
}

ErrorKind kind_of(CURLcode c) {
    switch (c) {
    case CURLE_OPERATION_TIMEDOUT: return ErrorKind::timeout;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        return ErrorKind::config;
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_UNKNOWN_OPTION:
    case CURLE_NOT_BUILT_IN:
        return ErrorKind::internal;
    default: return ErrorKind::network;
    }
}

} // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (k == name) return v;
    return std::nullopt;
}

struct CurlTransport::Handle {
    struct Deleter {
        void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
    };
    std::unique_ptr<CURL, Deleter> easy;
};

CurlTransport::CurlTransport(TransportOptions opts) : opts_(opts) { global_init_once(); }

CurlTransport::~CurlTransport() = default;

std::unique_ptr<CurlTransport::Handle> CurlTransport::acquire() {
    {
        std::lock_guard lock(mu_);
        if (!idle_.empty()) {
            auto h = std::move(idle_.back());
            idle_.pop_back();
            return h;
        }
    }
    auto h = std::make_unique<Handle>();
    h->easy.reset(curl_easy_init());
    if (!h->easy) return nullptr;
    return h;
}

void CurlTransport::release(std::unique_ptr<Handle> h) {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(h));
}

std::expected<HttpResponse, TransportError> CurlTransport::perform(const HttpRequest& req) {
    auto handle = acquire();
    if (!handle) return std::unexpected(TransportError{Error{ErrorKind::internal, "curl_easy_init failed"}, false});
    CURL* c = handle->easy.get();
    // Reset clears the previous request's options but keeps the connection cache: the
    // next request to the same host reuses the open connection.
    curl_easy_reset(c);

    HttpResponse resp;
    char errbuf[CURL_ERROR_SIZE] = {0};
    Upload up{req.upload_fd, req.upload_offset, req.upload_size, 0, 0, false};
    Download down{c, req.download_fd, &resp, req.max_download};
    Progress progress;
    progress.first_byte_timeout = opts_.first_byte_timeout;
    progress.budget = req.time_budget;
    progress.bound = req.download_fd >= 0 ? req.max_download : k_max_memory_body;
    HeaderSink sink{&resp, &progress};
    if (remote::transfers_cancelled())
        return std::unexpected(TransportError{Error{ErrorKind::network, "transfer cancelled: kache is stopping"}, false});

    Slist headers;
    for (const auto& [k, v] : req.headers) {
        std::string line = k + ": " + v;
        curl_slist* next = curl_slist_append(headers.get(), line.c_str());
        if (!next) return std::unexpected(TransportError{Error{ErrorKind::internal, "out of memory"}, false});
        (void)headers.release();
        headers.reset(next);
    }

    // TLS peer and host name verification stay at libcurl's defaults: on, against the
    // system CA store (Debian's libcurl reads /etc/ssl/certs/ca-certificates.crt), or the
    // configured CA bundle for a private endpoint.
    curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); // no SIGALRM: we run in worker threads
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); // the path was signed as written: no "/./" folding
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "kache/" KACHE_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts_.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(opts_.low_speed_limit));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts_.low_speed_time.count()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &progress);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &down);
    if (!opts_.ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opts_.ca_bundle.c_str());

    if (req.method == "HEAD") {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT") {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &up);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, &up);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.upload_size));
    } else if (req.method == "POST") {
        // The body is small (an XML part list) and outlives the call: libcurl sends it as is.
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method == "GET") {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }

    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    // A timeout before any connection was made is a server that cannot be reached, like a
    // refused connection (an address where nothing answers, not even with a reset).
    curl_off_t connect_us = 0;
    curl_easy_getinfo(c, CURLINFO_CONNECT_TIME_T, &connect_us);
    const bool never_connected = rc == CURLE_OPERATION_TIMEDOUT && connect_us == 0 && !progress.answered;
    // Unset what points into this frame before the handle goes back to the pool.
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
    release(std::move(handle));

    if (rc == CURLE_OK) return resp;

    std::string detail = errbuf[0] ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    if (up.err)
        return std::unexpected(TransportError{
            Error{ErrorKind::io, "cannot read the upload body: " + std::string(std::strerror(up.err))}, false});
    if (up.shrank)
        return std::unexpected(TransportError{
            Error{ErrorKind::io, "the file being uploaded shrank during the upload"}, false});
    if (down.err)
        return std::unexpected(TransportError{
            Error{ErrorKind::io, "cannot write the download: " + std::string(std::strerror(down.err))}, false});
    if (down.too_big)
        return std::unexpected(TransportError{
            Error{ErrorKind::corrupt,
                  "the reply " + (down.announced >= 0 && static_cast<std::uint64_t>(down.announced) > down.bound
                                      ? "announces " + std::to_string(down.announced) + " bytes"
                                      : std::string("runs on")) +
                      ", more than the " + std::to_string(down.bound) + " bytes such a reply may have"},
            false});
    if (progress.too_slow)
        return std::unexpected(TransportError{
            Error{ErrorKind::timeout, "the transfer took longer than the " +
                                          std::to_string(progress.allowed.count() / 1000) + " s allowed for it at " +
                                          std::to_string(progress.budget.min_rate) + " bytes/s (" +
                                          std::to_string(resp.downloaded + resp.body.size()) + " bytes received)"},
            false});
    if (progress.cancelled)
        return std::unexpected(TransportError{Error{ErrorKind::network, "transfer cancelled: kache is stopping"}, false});
    if (progress.no_answer)
        return std::unexpected(TransportError{
            Error{ErrorKind::timeout, "no answer within " + std::to_string(progress.first_byte_timeout.count()) +
                                          " ms of sending the request"},
            false});
    return std::unexpected(TransportError{Error{kind_of(rc), detail}, is_connect_failure(rc) || never_connected});
}

} // namespace kache::remote::detail
