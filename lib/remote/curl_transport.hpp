// lib/remote/curl_transport.hpp — one HTTP exchange over libcurl, with bodies streamed from
// and to file descriptors (private to libkache_remote; the S3 backend signs, retries and
// interprets on top of it).
#pragma once

#include <kache/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kache::remote::detail {

// How long one exchange may take in all: floor + bytes / min_rate, bytes being the length
// the reply announces (capped at the request's bound), or the bound when none is announced.
// The low-speed limit alone lets a server dribble a body just above it for ever.
struct TimeBudget {
    std::chrono::milliseconds floor{0};
    std::uint64_t min_rate = 0; // bytes per second; 0: no total-time bound
};

struct HttpRequest {
    std::string method; // "GET", "HEAD", "PUT", "POST" or "DELETE"
    std::string url;    // complete and already percent-encoded; sent exactly as written
    std::vector<std::pair<std::string, std::string>> headers;
    int upload_fd = -1;             // PUT: the body, read with pread() from upload_offset
    std::uint64_t upload_offset = 0; // PUT: where in upload_fd the body starts (a multipart part)
    std::uint64_t upload_size = 0;  // PUT: bytes to send
    std::string body;               // POST: a small body held in memory (a multipart request)
    int download_fd = -1;           // a 2xx body is written here; other bodies go to memory
    // A 2xx body for download_fd longer than this (announced or received) stops the transfer
    // before the excess is written (ErrorKind::corrupt). Bodies kept in memory are bounded
    // by k_max_memory_body.
    std::uint64_t max_download = std::numeric_limits<std::uint64_t>::max();
    TimeBudget time_budget;
};

struct HttpResponse {
    long status = 0;
    std::vector<std::pair<std::string, std::string>> headers; // names lowercased
    std::string body;                // the body when not written to download_fd (capped)
    std::uint64_t downloaded = 0;    // bytes written to download_fd

    // The value of the first header called name (lowercase), if any.
    std::optional<std::string> header(std::string_view name) const;
};

// A request that got no HTTP response.
struct TransportError {
    Error error;                  // timeout, network, config (TLS, URL) or io (local file)
    bool connect_failed = false;  // the server could not be reached at all
};

// A server that accepted the request must start answering (its status line) within this
// long of the last byte sent: a stalled remote is given up on in seconds, not after the
// low-speed limit's longer window.
inline constexpr std::chrono::milliseconds k_first_byte_timeout{6'000};

// A body kept in memory (a LIST page, an error document) longer than this stops the
// transfer (ErrorKind::corrupt): a page of 1 000 keys of the longest allowed length is
// well under it.
inline constexpr std::size_t k_max_memory_body = 4u << 20;

struct TransportOptions {
    std::chrono::milliseconds connect_timeout;
    std::chrono::seconds low_speed_time;
    std::uint32_t low_speed_limit = 0;
    std::chrono::milliseconds first_byte_timeout = k_first_byte_timeout;
    std::string ca_bundle; // PEM file of trusted CAs instead of the system store; empty: the system's
};

// Performs requests, reusing libcurl easy handles (and so their connections) across calls.
// Thread-safe: each perform() borrows an idle handle, or makes one, and returns it after.
class CurlTransport {
public:
    explicit CurlTransport(TransportOptions opts);
    ~CurlTransport();
    CurlTransport(const CurlTransport&) = delete;
    CurlTransport& operator=(const CurlTransport&) = delete;

    // One exchange, no retry. Any HTTP status is a success here. Aborts (a network error)
    // when remote::cancel_transfers() is called, or when no answer starts in time (a timeout).
    std::expected<HttpResponse, TransportError> perform(const HttpRequest& req);

private:
    struct Handle;
    std::unique_ptr<Handle> acquire();
    void release(std::unique_ptr<Handle> h);

    TransportOptions opts_;
    std::mutex mu_;
    std::vector<std::unique_ptr<Handle>> idle_;
};

} // namespace kache::remote::detail
