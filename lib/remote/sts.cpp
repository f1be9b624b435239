// AWS STS: AssumeRoleWithWebIdentity (an OIDC token, unsigned) and AssumeRole (signed with
// the source profile's credentials), as GET query-string calls; the answer is untrusted XML.
#include <kache/remote/credentials.hpp>
#include <kache/remote/s3_url.hpp>
#include <kache/remote/sigv4.hpp>

#include "curl_transport.hpp"
#include "http_url.hpp"

#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <pugixml.hpp>

namespace kache::remote {

namespace {

constexpr std::string_view k_sts_version = "2011-06-15";
// AWS's empty-body hash, signed for a GET.
constexpr std::string_view k_empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

struct Url {
    std::string origin, authority, path;
};

// The STS endpoint URL, checked: https, or http only to loopback (credentials and tokens
// must not cross a network in the clear). Split by the one URL parser of the credential
// endpoints, and judged by the loopback rule of the S3 endpoint.
Result<Url> parse_url(const std::string& url) {
    auto u = detail::parse_http_url(url);
    if (!u || u->path.find('?') != std::string::npos)
        return fail(ErrorKind::config, "STS endpoint '" + url + "' is malformed: fix AWS_ENDPOINT_URL_STS");
    if (u->scheme != "https" && !is_loopback_host(u->host))
        return fail(ErrorKind::config, "STS endpoint '" + url +
                                           "' is not https: credentials must not cross a network unencrypted");
    Url out;
    out.origin = detail::url_origin(*u);
    out.authority = out.origin.substr(u->scheme.size() + 3);
    out.path = u->path;
    return out;
}

std::string clean_line(std::string s) {
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return s.substr(0, 300);
}

// Sends one STS call and turns the reply into credentials, or an error that names the fix.
Result<Credentials> call_sts(const StsTarget& sts, std::vector<sigv4::QueryParam> query,
                             const Credentials* signer, const std::string& source, const std::string& fix) {
    auto url = parse_url(sts.endpoint);
    if (!url) return std::unexpected(url.error());
    detail::HttpRequest req;
    req.method = "GET";
    req.url = url->origin + url->path + "?" + sigv4::canonical_query(query);
    req.headers.emplace_back("Host", url->authority);
    req.headers.emplace_back("Accept", "application/xml");
    if (signer) {
        sigv4::Request sreq{"GET", url->path, query, {{"Host", url->authority}}, std::string(k_empty_sha256)};
        auto s = sigv4::sign_headers(sreq, {signer->access_key, signer->secret_key, signer->session_token},
                                     sigv4::Options::generic(sts.region, "sts"), std::chrono::system_clock::now());
        for (const auto& h : s.headers_to_add) req.headers.emplace_back(h.name, h.value);
    }
    detail::CurlTransport transport({k_credential_endpoint_timeout,
                                     std::chrono::duration_cast<std::chrono::seconds>(k_credential_endpoint_timeout),
                                     1, k_credential_endpoint_timeout, {}});
    auto resp = transport.perform(req);
    if (!resp)
        return fail(resp.error().error.kind,
                    source + ": cannot reach STS at " + sts.endpoint + ": " + resp.error().error.message +
                        "; check the network or AWS_ENDPOINT_URL_STS");
    if (resp->status < 200 || resp->status >= 300) {
        std::string code, message;
        if (resp->body.size() <= k_max_credential_reply) {
            pugi::xml_document doc;
            if (doc.load_buffer(resp->body.data(), resp->body.size())) {
                auto err = doc.child("ErrorResponse").child("Error");
                if (!err) err = doc.child("Error");
                code = err.child_value("Code");
                message = err.child_value("Message");
            }
        }
        std::string what = source + ": STS answered " + std::to_string(resp->status) +
                           (code.empty() ? "" : " " + clean_line(code)) +
                           (message.empty() ? "" : " (" + clean_line(message) + ")");
        ErrorKind kind = resp->status >= 500 || resp->status == 429 || code == "Throttling" ||
                                 code == "IDPCommunicationError"
                             ? ErrorKind::server
                             : ErrorKind::denied;
        return fail(kind, what + "; " + fix);
    }
    auto creds = parse_sts_credentials(resp->body, source);
    if (!creds) return fail(ErrorKind::server, creds.error().message);
    return creds;
}

// The token, read again on every call (the file is rotated by the CI runner or kubelet).
Result<std::string> read_token(const std::string& path) {
    util::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return fail(ErrorKind::config, "cannot read the web identity token " + path + " (AWS_WEB_IDENTITY_TOKEN_FILE): " +
                                                std::strerror(errno));
    std::string token;
    char buf[4096];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "cannot read " + path + ": " + std::strerror(errno));
        if (n == 0) break;
        token.append(buf, std::size_t(n));
        if (token.size() > k_max_credential_reply)
            return fail(ErrorKind::config, "the web identity token " + path + " is larger than " +
                                               std::to_string(k_max_credential_reply) + " bytes");
    }
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) return fail(ErrorKind::config, "the web identity token " + path + " is empty");
    return token;
}

} // namespace

Result<Credentials> parse_sts_credentials(std::string_view xml, std::string source) {
    if (xml.size() > k_max_credential_reply)
        return fail(ErrorKind::invalid_input, source + ": the STS answer is larger than " +
                                                  std::to_string(k_max_credential_reply) + " bytes");
    pugi::xml_document doc;
    if (!doc.load_buffer(xml.data(), xml.size()))
        return fail(ErrorKind::invalid_input, source + ": the STS answer is not XML");
    // <AssumeRole[WithWebIdentity]Response><...Result><Credentials>
    pugi::xml_node creds;
    for (auto resp : doc.children())
        for (auto result : resp.children())
            if (auto c = result.child("Credentials")) {
                creds = c;
                break;
            }
    if (!creds) return fail(ErrorKind::invalid_input, source + ": the STS answer holds no Credentials");
    Credentials c;
    c.source = std::move(source);
    c.access_key = creds.child_value("AccessKeyId");
    c.secret_key = creds.child_value("SecretAccessKey");
    c.session_token = creds.child_value("SessionToken");
    if (c.access_key.empty() || c.secret_key.empty() || c.session_token.empty())
        return fail(ErrorKind::invalid_input, c.source + ": the STS answer lacks a key, secret or session token");
    for (const std::string* s : {&c.access_key, &c.secret_key, &c.session_token})
        for (char ch : *s)
            if (static_cast<unsigned char>(ch) <= 0x20 || ch == 0x7f)
                return fail(ErrorKind::invalid_input, c.source + ": the STS answer holds a control character");
    auto exp = parse_iso8601(creds.child_value("Expiration"));
    if (!exp) return fail(ErrorKind::invalid_input, c.source + ": Expiration: " + exp.error().message);
    c.expiration = *exp;
    return c;
}

StsTarget sts_target(const EnvLookup& env, const std::string& region) {
    auto var = [&](std::string_view n) -> std::optional<std::string> {
        auto v = env(n);
        return v && !v->empty() ? v : std::nullopt;
    };
    StsTarget t;
    t.region = region.empty() ? "us-east-1" : region;
    if (auto v = var("AWS_ENDPOINT_URL_STS")) t.endpoint = *v;
    else if (auto w = var("AWS_ENDPOINT_URL")) t.endpoint = *w;
    else t.endpoint = "https://sts." + t.region + ".amazonaws.com";
    while (t.endpoint.size() > 8 && t.endpoint.back() == '/') t.endpoint.pop_back();
    return t;
}

Result<Credentials> assume_role_with_web_identity(const StsTarget& sts, const std::string& role_arn,
                                                  const std::string& session_name, const std::string& token_file) {
    const std::string source = "web identity (role " + role_arn + ")";
    auto token = read_token(token_file);
    if (!token) return std::unexpected(token.error());
    std::vector<sigv4::QueryParam> q = {{"Action", "AssumeRoleWithWebIdentity"},
                                        {"Version", std::string(k_sts_version)},
                                        {"RoleArn", role_arn},
                                        {"RoleSessionName", session_name},
                                        {"DurationSeconds", std::to_string(k_sts_duration.count())},
                                        {"WebIdentityToken", *token}};
    return call_sts(sts, std::move(q), nullptr, source,
                    "check AWS_ROLE_ARN, the token in AWS_WEB_IDENTITY_TOKEN_FILE and the role's trust policy");
}

Result<Credentials> assume_role(const StsTarget& sts, const std::string& role_arn, const std::string& session_name,
                                const Credentials& source_creds, const std::string& external_id) {
    const std::string source = "role " + role_arn + " assumed with " + source_creds.source;
    std::vector<sigv4::QueryParam> q = {{"Action", "AssumeRole"},
                                        {"Version", std::string(k_sts_version)},
                                        {"RoleArn", role_arn},
                                        {"RoleSessionName", session_name},
                                        {"DurationSeconds", std::to_string(k_sts_duration.count())}};
    if (!external_id.empty()) q.push_back({"ExternalId", external_id});
    return call_sts(sts, std::move(q), &source_creds, source,
                    "check role_arn and source_profile in the profile, and the role's trust policy");
}

} // namespace kache::remote
