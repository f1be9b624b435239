#include "http_url.hpp"

#include <algorithm>

namespace kache::remote::detail {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

} // namespace

std::expected<HttpUrl, std::string> split_http_url(std::string_view url) {
    using bad = std::unexpected<std::string>;
    for (unsigned char c : url)
        if (c <= 0x20 || c >= 0x7f) return bad("it holds a space, control or non-ASCII character");
    HttpUrl u;
    auto sep = url.find("://");
    if (sep == std::string_view::npos) return bad("no scheme");
    u.scheme = lower(url.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https") return bad("the scheme must be http or https");
    std::string_view rest = url.substr(sep + 3);
    if (rest.find('#') != std::string_view::npos) return bad("it has a fragment");
    auto slash = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, slash);
    u.path = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    if (u.path.front() == '?') u.path.insert(u.path.begin(), '/');
    if (authority.find('@') != std::string_view::npos) return bad("user names are not supported");
    std::string_view port;
    if (authority.starts_with("[")) {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return bad("unclosed '['");
        u.host = lower(authority.substr(1, close - 1));
        // An IPv6 literal: hex digits, ':' and '.' only, and at least one ':' (url_origin
        // brackets a host by its ':', so anything else would not read back the same).
        if (u.host.find(':') == std::string::npos ||
            u.host.find_first_not_of("0123456789abcdef:.") != std::string::npos)
            return bad("not an IPv6 address in '[...]'");
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return bad("junk after ']'");
            port = after.substr(1);
        }
    } else {
        auto colon = authority.find(':');
        u.host = lower(authority.substr(0, colon));
        if (u.host.find_first_of("[]") != std::string::npos) return bad("a '[' or ']' outside an IPv6 address");
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) return bad("no host");
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoul(std::string(port)) > 65535)
            return bad("bad port");
        u.port = std::string(port);
    }
    return u;
}

Result<HttpUrl> parse_http_url(std::string_view url) {
    auto u = split_http_url(url);
    if (!u) return fail(ErrorKind::config, "\"" + std::string(url.substr(0, 200)) + "\" is not a usable URL: " + u.error());
    return std::move(*u);
}

std::string url_origin(const HttpUrl& u) {
    std::string out = u.scheme + "://";
    out += u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (!u.port.empty()) out += ":" + u.port;
    return out;
}

} // namespace kache::remote::detail
