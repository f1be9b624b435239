// kache/remote/sigv4.hpp — AWS Signature Version 4, as a pure function of its inputs.
//
//   sigv4::Request req{"PUT", "/bucket/v1/packs/serde/k.pack", {}, {{"host", "s3.example"}},
//                      sigv4::sha256_hex(body)};
//   auto s = sigv4::sign_headers(req, creds, sigv4::Options::s3("us-east-1"), now);
//   // send req.headers plus s.headers_to_add (x-amz-date, x-amz-content-sha256, authorization)
//
// Nothing here does I/O or reads the clock: the caller passes the time, so every step
// (canonical request, string to sign, signing key, signature) can be checked against
// AWS's published test vectors. S3 and the other AWS services differ in how the path is
// canonicalised; Options says which rules apply.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::remote::sigv4 {

// One HTTP header as sent. Names are case-insensitive; a name may repeat, and a value may
// hold folded lines ("a\n  b"): canonicalisation joins repeats with ',' and collapses runs
// of whitespace (line breaks included) to one space.
struct Header {
    std::string name;
    std::string value;
};

// One query parameter, decoded (the signer percent-encodes it). A parameter written
// without '=' ("?lifecycle") has an empty value.
struct QueryParam {
    std::string name;
    std::string value;
};

// What is signed: everything the server will see that SigV4 covers.
struct Request {
    std::string method;             // "GET", "PUT", ...
    std::string path;               // the absolute path as it appears on the request line
    std::vector<QueryParam> query;  // in any order; the signer sorts its own copy
    std::vector<Header> headers;    // every header to sign, "host" included
    std::string payload_hash;       // lowercase hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"
};

// Long-term or temporary (STS) credentials.
struct Credentials {
    std::string access_key_id;
    std::string secret_access_key;
    std::string session_token; // empty for long-term keys
};

// Which variant of the rules to apply.
struct Options {
    std::string region;          // "us-east-1"
    std::string service;         // "s3", or the service name of the credential scope
    // Generic SigV4 removes "." and ".." segments and empty segments ("//") from the path;
    // S3 signs the path exactly as sent, because "a//b" and "a/./b" are distinct keys.
    bool normalize_path = false;
    // Generic SigV4 percent-encodes the (already encoded) request path once more; S3 signs
    // the path encoded exactly once (the signer decodes what it is given, then encodes it).
    bool double_encode_path = false;
    // Adds and signs "x-amz-content-sha256: <payload_hash>" in the header form (S3 needs it).
    bool content_sha256_header = false;
    // With a session token: true signs it (header x-amz-security-token or query parameter
    // X-Amz-Security-Token); false adds it to the request after signing, as some services want.
    bool sign_session_token = true;

    // The rules S3 expects: no normalisation, single encoding, x-amz-content-sha256 signed.
    static Options s3(std::string region);
    // The rules of the generic AWS test suite: normalised, double-encoded path.
    static Options generic(std::string region, std::string service);
};

// The result of signing with the Authorization header.
struct SignedHeaders {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;           // lowercase hex
    std::string authorization;       // the Authorization header's value
    std::vector<Header> headers_to_add; // X-Amz-Date, x-amz-content-sha256, X-Amz-Security-Token, Authorization
};

// The result of presigning (authentication in the query string).
struct Presigned {
    std::string canonical_request;
    std::string string_to_sign;
    std::string signature;           // lowercase hex
    std::vector<QueryParam> query;   // the request's parameters plus every X-Amz-* one, decoded
    std::string query_string;        // the same, encoded, ready to follow '?' (signature last)
};

// ---- the two ways to sign -----------------------------------------------------------------

// Signs req for the Authorization header at time `when`. req.headers must contain "host"
// and must not already contain x-amz-date; the caller sends req.headers plus headers_to_add.
SignedHeaders sign_headers(const Request& req, const Credentials& creds, const Options& opts,
                           std::chrono::system_clock::time_point when);

// Presigns req (X-Amz-* query parameters) valid for `expires` from `when`. Only the headers in
// req.headers are signed (usually just "host"); the payload hash is req.payload_hash
// ("UNSIGNED-PAYLOAD" for a URL handed to someone else).
Presigned presign(const Request& req, const Credentials& creds, const Options& opts,
                  std::chrono::system_clock::time_point when, std::chrono::seconds expires);

// ---- the steps, each exposed so it can be tested on its own ----------------------------------

// "20150830T123600Z" for the given time (UTC).
std::string amz_date(std::chrono::system_clock::time_point when);

// "20150830/us-east-1/service/aws4_request" for an amz_date and the options.
std::string credential_scope(std::string_view amz_date, const Options& opts);

// Percent-encodes s as SigV4 requires: every byte except A-Z a-z 0-9 - . _ ~ becomes %XX
// (uppercase hex); '/' is kept when keep_slash (paths) and encoded otherwise (query values).
std::string uri_encode(std::string_view s, bool keep_slash);

// Decodes %XX sequences (malformed ones are kept as written). '+' stays '+'.
std::string uri_decode(std::string_view s);

// Splits a raw query string ("b=2&a=1&flag") into decoded parameters, in order.
std::vector<QueryParam> parse_query(std::string_view raw);

// The canonical URI of a request path under the given rules.
std::string canonical_uri(std::string_view path, const Options& opts);

// The canonical query string: parameters encoded, sorted by name then value, joined with '&'.
std::string canonical_query(const std::vector<QueryParam>& query);

// The canonical headers block (each "name:value\n") and the signed-headers list ("a;b;c").
struct CanonicalHeaders {
    std::string block;
    std::string signed_list;
};
CanonicalHeaders canonical_headers(const std::vector<Header>& headers);

// The whole canonical request for req under opts.
std::string canonical_request(const Request& req, const Options& opts);

// The string to sign for a canonical request.
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request);

// A raw SHA-256 / HMAC-SHA256 output (signing keys are kept in this form).
using Digest = std::array<std::uint8_t, 32>;

// The derived signing key: HMAC chain over date (YYYYMMDD), region, service, "aws4_request".
Digest signing_key(std::string_view secret_access_key, std::string_view date,
                   std::string_view region, std::string_view service);

// Lowercase hex HMAC-SHA256 of string_to_sign under the derived key.
std::string signature(const Digest& key, std::string_view string_to_sign);

// The signature of one chunk of a STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload, chained on the
// previous chunk's (or the seed request's) signature.
std::string chunk_signature(const Digest& key, std::string_view amz_date, std::string_view scope,
                            std::string_view previous_signature, std::string_view chunk);

// ---- hashing primitives (OpenSSL) --------------------------------------------------------

// Lowercase hex SHA-256 of data.
std::string sha256_hex(std::string_view data);

// HMAC-SHA256 of data under key.
Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data);

// Lowercase hex of bytes.
std::string to_hex(std::span<const std::uint8_t> bytes);

// Incremental SHA-256, for bodies streamed from a file.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    // Adds data to the hash.
    void update(std::string_view data);
    // Returns the lowercase hex digest; the object must not be updated afterwards.
    std::string finish_hex();

private:
    struct State;
    std::unique_ptr<State> state_;
};

} // namespace kache::remote::sigv4
