// kache/remote/s3_url.hpp — where an S3 request goes: the endpoint URL taken apart, and the
// bucket addressed path-style (<endpoint>/<bucket>/<key>) or virtual-hosted-style
// (<bucket>.<endpoint host>/<key>).
//
//   auto ep = kache::remote::parse_s3_endpoint("https://s3.eu-west-1.amazonaws.com");
//   auto at = kache::remote::address_bucket(*ep, "my-cache", S3AddressingStyle::automatic);
//   at.url_of("v1/a b")  // "https://my-cache.s3.eu-west-1.amazonaws.com/v1/a%20b"
//
// The signer signs at.authority as Host and at.path_of(key) as the path: what is sent.
#pragma once

#include <kache/error.hpp>

#include <string>
#include <string_view>

namespace kache::remote {

// How the bucket is named in a request. automatic: virtual-hosted for AWS endpoints
// (*.amazonaws.com, *.amazonaws.com.cn), path-style for any other endpoint.
enum class S3AddressingStyle { automatic, path, virtual_hosted };

// "auto" | "path" | "virtual"; anything else is ErrorKind::config naming `setting`.
Result<S3AddressingStyle> parse_addressing_style(std::string_view text, std::string_view setting);

// The parts of an endpoint URL that requests are built from.
struct S3Endpoint {
    std::string scheme;    // "http" or "https"
    std::string authority; // "host[:port]" as written
    std::string host;      // lowercase, without port or brackets
    std::string base_path; // "" or "/gateway" (no trailing '/')
};

// Splits an endpoint URL. ErrorKind::config for a malformed URL, or plain http:// to a host
// that is not loopback (credentials must not cross a network unencrypted).
Result<S3Endpoint> parse_s3_endpoint(const std::string& url);

// 127.0.0.0/8 as a dotted quad, "localhost", "::1".
bool is_loopback_host(const std::string& host);

// True for AWS's own S3 hosts: the name ends in .amazonaws.com or .amazonaws.com.cn.
bool is_aws_host(std::string_view host);

// True if the bucket name can be the first label of a host name (3-63 characters of a-z,
// 0-9, '-' and '.', starting and ending alphanumeric, no "..", not an IPv4 address); with
// https a dot is not allowed either, as AWS's wildcard certificate covers one label only.
bool is_dns_compatible_bucket(std::string_view bucket, bool https);

// A bucket's address: what every request on it is built from.
struct S3BucketAddress {
    std::string scheme;
    std::string authority;    // sent as Host and signed: "bucket.s3.eu-west-1.amazonaws.com"
    std::string bucket_path;  // path of the bucket itself: "/gateway/bucket" or "/gateway/"
    bool virtual_hosted = false;

    // The request path of key (percent-encoded as SigV4 wants it); the bucket's for "".
    std::string path_of(const std::string& key) const;
    // scheme://authority + path_of(key)
    std::string url_of(const std::string& key) const;
};

// Picks the style (virtual-hosted falls back to path-style for a bucket name that is not
// DNS-compatible, as the AWS SDKs do) and composes the address.
S3BucketAddress address_bucket(const S3Endpoint& ep, const std::string& bucket, S3AddressingStyle style);

} // namespace kache::remote
