// S3 endpoint parsing and bucket addressing (path-style or virtual-hosted-style).
#include <kache/remote/s3_url.hpp>
#include <kache/remote/sigv4.hpp>

#include "http_url.hpp"

#include <algorithm>
#include <cctype>

namespace kache::remote {

namespace {

// S3's limits on a bucket name that is used as a host label.
inline constexpr std::size_t k_min_dns_bucket = 3;
inline constexpr std::size_t k_max_dns_bucket = 63;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z'); }

// "a.b.c.d" with four decimal parts each ≤ 255.
bool is_dotted_quad(std::string_view s) {
    int parts = 0;
    std::size_t i = 0;
    while (i <= s.size()) {
        std::size_t j = s.find('.', i);
        if (j == std::string_view::npos) j = s.size();
        std::string_view p = s.substr(i, j - i);
        if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), is_digit) || std::stoi(std::string(p)) > 255)
            return false;
        ++parts;
        i = j + 1;
    }
    return parts == 4;
}

} // namespace

Result<S3AddressingStyle> parse_addressing_style(std::string_view text, std::string_view setting) {
    if (text == "auto") return S3AddressingStyle::automatic;
    if (text == "path") return S3AddressingStyle::path;
    if (text == "virtual") return S3AddressingStyle::virtual_hosted;
    return fail(ErrorKind::config,
                std::string(setting) + " = '" + std::string(text) + "' is not one of auto, path, virtual");
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost" || host == "::1") return true;
    return host.starts_with("127.") && is_dotted_quad(host);
}

bool is_aws_host(std::string_view host) {
    return host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
}

bool is_dns_compatible_bucket(std::string_view b, bool https) {
    if (b.size() < k_min_dns_bucket || b.size() > k_max_dns_bucket) return false;
    if (!is_lower_alnum(b.front()) || !is_lower_alnum(b.back())) return false;
    for (char c : b)
        if (!is_lower_alnum(c) && c != '-' && c != '.') return false;
    if (b.find("..") != std::string_view::npos || b.find(".-") != std::string_view::npos ||
        b.find("-.") != std::string_view::npos)
        return false;
    if (is_dotted_quad(b)) return false;
    return !(https && b.find('.') != std::string_view::npos);
}

Result<S3Endpoint> parse_s3_endpoint(const std::string& url) {
    auto bad = [&](const std::string& why) {
        return fail(ErrorKind::config, "S3 endpoint '" + url.substr(0, 200) + "': " + why +
                                           "; write it as https://host[:port] (KACHE_S3_ENDPOINT)");
    };
    auto u = detail::split_http_url(url);
    if (!u) return bad(u.error());
    // A base path (a gateway under a prefix) is allowed; a query is not.
    if (u->path.find('?') != std::string::npos) return bad("it has a query");
    S3Endpoint ep;
    ep.scheme = u->scheme;
    ep.host = u->host;
    ep.authority = u->host.find(':') != std::string::npos ? "[" + u->host + "]" : u->host;
    if (!u->port.empty()) ep.authority += ":" + u->port;
    ep.base_path = u->path;
    while (!ep.base_path.empty() && ep.base_path.back() == '/') ep.base_path.pop_back();
    if (ep.scheme == "http" && !is_loopback_host(ep.host))
        return fail(ErrorKind::config, "S3 endpoint '" + url.substr(0, 200) +
                                           "' uses plain http, which kache allows only for loopback "
                                           "(127.0.0.0/8, localhost, [::1]): use https://" +
                                           url.substr(url.find("://") + 3, 200));
    return ep;
}

std::string S3BucketAddress::path_of(const std::string& key) const {
    if (key.empty()) return bucket_path;
    std::string sep = bucket_path.ends_with('/') ? "" : "/";
    return bucket_path + sep + sigv4::uri_encode(key, true);
}

std::string S3BucketAddress::url_of(const std::string& key) const { return scheme + "://" + authority + path_of(key); }

S3BucketAddress address_bucket(const S3Endpoint& ep, const std::string& bucket, S3AddressingStyle style) {
    bool want_virtual = style == S3AddressingStyle::virtual_hosted ||
                        (style == S3AddressingStyle::automatic && is_aws_host(ep.host));
    // An IP address has no sub-domains to put the bucket in.
    bool host_is_ip = ep.authority.front() == '[' || is_dotted_quad(ep.host);
    S3BucketAddress a;
    a.scheme = ep.scheme;
    a.virtual_hosted = want_virtual && !host_is_ip && is_dns_compatible_bucket(bucket, ep.scheme == "https");
    if (a.virtual_hosted) {
        a.authority = bucket + "." + ep.authority;
        a.bucket_path = ep.base_path + "/";
    } else {
        a.authority = ep.authority;
        a.bucket_path = ep.base_path + "/" + bucket;
    }
    return a;
}

} // namespace kache::remote
