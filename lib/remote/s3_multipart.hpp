// lib/remote/s3_multipart.hpp — a large object goes up in parts: CreateMultipartUpload,
// UploadPart per range of the file (streamed with pread, each with its own SHA-256),
// CompleteMultipartUpload; AbortMultipartUpload on any failure (private to libkache_remote).
#pragma once

#include "s3_call.hpp"

#include <filesystem>

namespace kache::remote::detail {

struct MultipartSource {
    int fd = -1;
    std::uint64_t size = 0;
    std::filesystem::path path; // for messages
};

// Uploads src to key (prefix applied) in parts of part_size bytes (the last may be
// shorter). if_none_match makes Complete conditional (If-None-Match: *): an existing object
// is ErrorKind::conflict. Memory: one read buffer, whatever the size.
Result<void> multipart_put(const S3Send& send, const S3HttpError& http_error, const std::string& key,
                           const MultipartSource& src, std::uint64_t part_size, bool if_none_match);

} // namespace kache::remote::detail
