// lib/remote/s3_call.hpp — one S3 call before signing, and the two services of the backend
// that the multipart upload builds on (private to libkache_remote).
#pragma once

#include <kache/error.hpp>
#include <kache/remote/sigv4.hpp>

#include "curl_transport.hpp"

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace kache::remote::detail {

// SHA-256 of an empty body, as x-amz-content-sha256 wants it.
inline constexpr std::string_view k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct S3Call {
    S3Call(std::string op_, std::string method_, std::string key_ = {})
        : op(std::move(op_)), method(std::move(method_)), key(std::move(key_)) {}

    std::string op;                      // "GET", "PUT", ... for messages
    std::string method;
    std::string key;                     // full key (prefix applied); empty for the bucket
    std::vector<sigv4::QueryParam> query;
    std::vector<sigv4::Header> headers;  // extra headers, all signed
    std::string payload_hash = std::string(k_empty_sha256);
    int upload_fd = -1;
    std::uint64_t upload_offset = 0;     // where the body starts in upload_fd
    std::uint64_t upload_size = 0;
    std::string body;                    // POST: the body, in memory (small)
    int download_fd = -1;
    std::uint64_t max_download = std::numeric_limits<std::uint64_t>::max(); // HttpRequest::max_download
    TimeBudget time_budget;              // HttpRequest::time_budget
};

// Signs and sends a call, retrying what may succeed later: the final HTTP response (any
// status, for the caller to interpret) or an Error.
using S3Send = std::function<Result<HttpResponse>(const S3Call&)>;
// The Error that a final non-2xx response to a call stands for.
using S3HttpError = std::function<Error(const S3Call&, const HttpResponse&)>;

} // namespace kache::remote::detail
