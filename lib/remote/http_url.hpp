// lib/remote/http_url.hpp — an http(s) URL taken from the environment or config, split into
// its parts and checked (private to libkache_remote: the S3 endpoint and the credential
// endpoints' addresses).
#pragma once

#include <kache/error.hpp>

#include <expected>
#include <string>
#include <string_view>

namespace kache::remote::detail {

struct HttpUrl {
    std::string scheme; // "http" or "https", lowercase
    std::string host;   // lowercase; an IPv6 address without its brackets
    std::string port;   // digits, or empty for the scheme's default
    std::string path;   // from the first '/', with any query; "/" when absent
};

// Splits url. ErrorKind::config for anything but http(s)://host[:port][/path]: other schemes,
// user names, fragments, spaces, control or non-ASCII characters, a bad port, brackets that
// do not hold an IPv6 address.
Result<HttpUrl> parse_http_url(std::string_view url);

// The same split; on failure, only what is wrong ("it has a fragment"), for a caller that
// words the error for its own setting.
std::expected<HttpUrl, std::string> split_http_url(std::string_view url);

// The URL for path on the same server, e.g. base "http://[::1]:80" + "/latest/api/token".
std::string url_origin(const HttpUrl& u);

} // namespace kache::remote::detail
