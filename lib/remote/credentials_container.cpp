// Container credentials: the ECS task role and EKS Pod Identity endpoints, which hand a
// container temporary credentials over HTTP at an address given in its environment.
#include <kache/remote/credentials.hpp>
#include <kache/remote/s3_url.hpp>

#include "credential_reply.hpp"
#include "curl_transport.hpp"
#include "http_url.hpp"
#include "posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace kache::remote {

namespace {

// Where the ECS agent serves AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
constexpr std::string_view k_ecs_origin = "http://169.254.170.2";
// The plain-http hosts the SDKs accept in AWS_CONTAINER_CREDENTIALS_FULL_URI: the ECS and
// EKS Pod Identity agents' link-local addresses, and loopback. Anything else must be https,
// or credentials would cross a network in clear text.
// (Loopback is is_loopback_host's: 127.0.0.0/8 as a dotted quad, localhost, ::1.)
constexpr std::array<std::string_view, 3> k_http_hosts = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};

bool http_host_allowed(const std::string& host) {
    return is_loopback_host(host) || std::find(k_http_hosts.begin(), k_http_hosts.end(), host) != k_http_hosts.end();
}

std::optional<std::string> nonempty(const EnvLookup& env, std::string_view name) {
    auto v = env(name);
    if (!v || v->empty()) return std::nullopt;
    return v;
}

std::string trim(std::string s) {
    auto ws = [](unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.back())) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && ws(s[i])) ++i;
    return s.substr(i);
}

// A header value may not hold a line break (header injection) nor any other control character.
bool has_control(std::string_view s) {
    return std::any_of(s.begin(), s.end(), [](unsigned char c) { return (c < 0x20 && c != '\t') || c == 0x7f; });
}

// The token file's content, read anew on every fetch (the agent rotates it), bounded and trimmed.
Result<std::string> read_token_file(const std::string& path) {
    auto where = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (" + path + ")";
    // Non-blocking, and a regular file only: a FIFO there must not hang the daemon.
    detail::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) return fail(ErrorKind::io, "cannot read " + where + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return fail(ErrorKind::config, where + " is not a regular file");
    std::string out;
    char buf[4096];
    while (true) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "cannot read " + where + ": " + std::strerror(errno));
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > k_max_credential_reply)
            return fail(ErrorKind::invalid_input, where + " is over " + std::to_string(k_max_credential_reply) + " bytes");
    }
    out = trim(std::move(out));
    if (out.empty()) return fail(ErrorKind::invalid_input, where + " is empty");
    if (has_control(out))
        return fail(ErrorKind::invalid_input, where + " holds a line break or another control character inside the token");
    return out;
}

struct ContainerEndpoint {
    std::string url;
    std::optional<std::string> token_file; // read on each fetch; wins over token
    std::optional<std::string> token;
};

// The endpoint the environment names; std::nullopt when it names none. The SDKs' order:
// the relative URI (always at the ECS agent's address) first, then the full URI.
Result<std::optional<ContainerEndpoint>> container_endpoint(const EnvLookup& env) {
    ContainerEndpoint ep;
    if (auto rel = nonempty(env, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")) {
        if (!rel->starts_with("/"))
            return fail(ErrorKind::config, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with '/'");
        ep.url = std::string(k_ecs_origin) + *rel;
        auto u = detail::parse_http_url(ep.url);
        if (!u) return fail(ErrorKind::config, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: " + u.error().message);
    } else if (auto full = nonempty(env, "AWS_CONTAINER_CREDENTIALS_FULL_URI")) {
        auto u = detail::parse_http_url(*full);
        if (!u) return fail(ErrorKind::config, "AWS_CONTAINER_CREDENTIALS_FULL_URI: " + u.error().message);
        if (u->scheme == "http" && !http_host_allowed(u->host))
            return fail(ErrorKind::config,
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed only to loopback, 169.254.170.2, "
                        "169.254.170.23 or fd00:ec2::23 (not " + u->host + "); use https");
        ep.url = *full;
    } else {
        return std::optional<ContainerEndpoint>{};
    }
    ep.token_file = nonempty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    ep.token = nonempty(env, "AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (!ep.token_file && ep.token && has_control(*ep.token))
        return fail(ErrorKind::config, "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break or another control character");
    return std::optional<ContainerEndpoint>{std::move(ep)};
}

Result<std::optional<Credentials>> fetch(const ContainerEndpoint& ep) {
    const std::string source = "container credentials (" + ep.url + ")";
    detail::HttpRequest req;
    req.method = "GET";
    req.url = ep.url;
    req.headers.emplace_back("Accept", "application/json");
    if (ep.token_file) {
        auto t = read_token_file(*ep.token_file);
        if (!t) return std::unexpected(Error{t.error().kind, source + ": " + t.error().message});
        req.headers.emplace_back("Authorization", std::move(*t));
    } else if (ep.token) {
        req.headers.emplace_back("Authorization", *ep.token);
    }
    // A transport per fetch: fetches are an hour apart, a kept connection would go stale.
    detail::CurlTransport transport(detail::TransportOptions{
        k_credential_endpoint_timeout, std::chrono::duration_cast<std::chrono::seconds>(k_credential_endpoint_timeout), 1,
        k_credential_endpoint_timeout, {}});
    auto resp = transport.perform(req);
    if (!resp) return std::unexpected(Error{resp.error().error.kind, source + ": " + resp.error().error.message});
    if (resp->status == 401 || resp->status == 403)
        return std::unexpected(Error{ErrorKind::denied, source + ": HTTP " + std::to_string(resp->status) +
                                                             ": the authorization token was refused; check "
                                                             "AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)"});
    if (resp->status < 200 || resp->status >= 300) {
        ErrorKind kind = resp->status == 429 ? ErrorKind::throttled
                         : resp->status >= 500 ? ErrorKind::server
                                               : ErrorKind::config;
        return std::unexpected(Error{kind, source + ": HTTP " + std::to_string(resp->status)});
    }
    auto creds = detail::parse_credential_reply(resp->body, detail::ReplyShape::container, source);
    if (!creds) return std::unexpected(creds.error());
    return std::optional<Credentials>{std::move(*creds)};
}

} // namespace

CredentialSource container_credentials(const EnvLookup& env) {
    auto ep = container_endpoint(env);
    return [ep = std::move(ep)]() -> Result<std::optional<Credentials>> {
        if (!ep) return std::unexpected(ep.error()); // configured, but wrongly: reported on use
        if (!*ep) return std::optional<Credentials>{};
        return fetch(**ep);
    };
}

} // namespace kache::remote
