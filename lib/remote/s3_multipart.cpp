// Multipart upload of one object: parts streamed from the file, aborted on any failure.
#include "s3_multipart.hpp"

#include <kache/remote/s3.hpp>

#include "posix_file.hpp"

#include <pugixml.hpp>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace kache::remote {

std::uint64_t s3_multipart_part_size(std::uint64_t object_size, std::uint64_t configured) {
    std::uint64_t part = std::max(configured, k_min_multipart_part_size);
    if ((object_size + part - 1) / part > k_max_multipart_parts) {
        // Grow to the smallest whole MiB that keeps the count within S3's limit.
        constexpr std::uint64_t mib = 1ull << 20;
        std::uint64_t need = (object_size + k_max_multipart_parts - 1) / k_max_multipart_parts;
        part = (need + mib - 1) / mib * mib;
    }
    return part;
}

namespace detail {

namespace {

// One read buffer: the only memory an upload holds, whatever the object's size.
inline constexpr std::size_t k_read_buffer = 1 << 20;
// An upload id or ETag longer than this, or with bytes outside printable ASCII, is not S3's.
inline constexpr std::size_t k_max_token = 1024;

bool is_printable_token(std::string_view s) {
    return !s.empty() && s.size() <= k_max_token &&
           std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 0x7f; });
}

std::string xml_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        default: out += c;
        }
    }
    return out;
}

// SHA-256 of [off, off + len) of the file, read with pread (the file is not held in memory).
Result<std::string> hash_range(const MultipartSource& src, std::uint64_t off, std::uint64_t len, std::vector<char>& buf) {
    sigv4::Sha256 hash;
    for (std::uint64_t end = off + len; off < end;) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - off));
        ssize_t n = ::pread(src.fd, buf.data(), want, static_cast<off_t>(off));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno_error(errno, "cannot read", src.path));
        if (n == 0) return fail(ErrorKind::io, src.path.string() + " shrank while it was being uploaded");
        hash.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        off += static_cast<std::uint64_t>(n);
    }
    return hash.finish_hex();
}

struct Upload {
    const S3Send& send;
    const S3HttpError& http_error;
    const std::string& key;
    std::string upload_id;

    Error bad_reply(const std::string& op, const std::string& why) const {
        return {ErrorKind::server, "S3 " + op + " s3://.../" + key + ": " + why};
    }

    Result<void> create() {
        S3Call call("CREATE-MULTIPART", "POST", key);
        call.query = {{"uploads", ""}};
        // libcurl would otherwise label the POST as a form, and S3 keeps Create's type.
        call.headers = {{"Content-Type", "application/octet-stream"}};
        auto resp = send(call);
        if (!resp) return std::unexpected(resp.error());
        if (resp->status != 200) return std::unexpected(http_error(call, *resp));
        pugi::xml_document doc;
        if (!doc.load_buffer(resp->body.data(), resp->body.size()))
            return std::unexpected(bad_reply(call.op, "the reply is not XML"));
        upload_id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
        if (!is_printable_token(upload_id)) return std::unexpected(bad_reply(call.op, "the reply has no valid UploadId"));
        return ok();
    }

    Result<std::string> part(const MultipartSource& src, unsigned number, std::uint64_t off, std::uint64_t len,
                             std::vector<char>& buf) {
        auto hash = hash_range(src, off, len, buf);
        if (!hash) return std::unexpected(hash.error());
        S3Call call("UPLOAD-PART", "PUT", key);
        call.query = {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}};
        call.payload_hash = *hash;
        call.upload_fd = src.fd;
        call.upload_offset = off;
        call.upload_size = len;
        auto resp = send(call);
        if (!resp) return std::unexpected(resp.error());
        if (resp->status < 200 || resp->status >= 300) return std::unexpected(http_error(call, *resp));
        auto etag = resp->header("etag");
        if (!etag || !is_printable_token(*etag))
            return std::unexpected(bad_reply(call.op, "part " + std::to_string(number) + " got no valid ETag"));
        return *etag;
    }

    Result<void> complete(const std::vector<std::string>& etags, bool if_none_match) {
        S3Call call("COMPLETE-MULTIPART", "POST", key);
        call.query = {{"uploadId", upload_id}};
        call.body = "<CompleteMultipartUpload>";
        for (std::size_t i = 0; i < etags.size(); ++i)
            call.body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + xml_escape(etags[i]) +
                         "</ETag></Part>";
        call.body += "</CompleteMultipartUpload>";
        call.payload_hash = sigv4::sha256_hex(call.body);
        call.headers = {{"Content-Type", "application/xml"}};
        if (if_none_match) call.headers.push_back({"If-None-Match", "*"});
        auto resp = send(call);
        if (!resp) return std::unexpected(resp.error());
        if (resp->status == 404) {
            // The upload is gone: a retry after an attempt whose reply was lost finds it
            // completed. The object then exists, as for the single PUT's lost reply.
            S3Call head("HEAD", "HEAD", key);
            auto h = send(head);
            if (h && h->status == 200)
                return if_none_match ? fail(ErrorKind::conflict, "s3://.../" + key + " exists already") : ok();
        }
        if (resp->status < 200 || resp->status >= 300) return std::unexpected(http_error(call, *resp));
        // S3 may answer 200 and still fail: the error is then the body.
        pugi::xml_document doc;
        if (!doc.load_buffer(resp->body.data(), resp->body.size()))
            return std::unexpected(bad_reply(call.op, "the reply is not XML"));
        if (pugi::xml_node err = doc.child("Error"))
            return std::unexpected(bad_reply(call.op, std::string("the server failed: ") + err.child_value("Code")));
        if (!doc.child("CompleteMultipartUploadResult"))
            return std::unexpected(bad_reply(call.op, "no CompleteMultipartUploadResult in the reply"));
        return ok();
    }

    // Best effort: the parts of a failed upload must not linger (and cost) on the server.
    void abort() {
        if (upload_id.empty()) return;
        S3Call call("ABORT-MULTIPART", "DELETE", key);
        call.query = {{"uploadId", upload_id}};
        (void)send(call);
    }
};

} // namespace

Result<void> multipart_put(const S3Send& send, const S3HttpError& http_error, const std::string& key,
                           const MultipartSource& src, std::uint64_t part_size, bool if_none_match) {
    part_size = s3_multipart_part_size(src.size, part_size);
    Upload up{send, http_error, key, {}};
    if (auto c = up.create(); !c) return c;
    auto result = [&]() -> Result<void> {
        std::vector<char> buf(k_read_buffer);
        std::vector<std::string> etags;
        unsigned number = 1;
        for (std::uint64_t off = 0; off < src.size || off == 0; off += part_size, ++number) {
            std::uint64_t len = std::min(part_size, src.size - off);
            auto etag = up.part(src, number, off, len, buf);
            if (!etag) return std::unexpected(etag.error());
            etags.push_back(std::move(*etag));
            if (len == 0) break;
        }
        return up.complete(etags, if_none_match);
    }();
    if (!result) up.abort();
    return result;
}

} // namespace detail

} // namespace kache::remote
