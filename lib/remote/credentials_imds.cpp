// Instance metadata credentials: the role attached to an EC2 instance, read from the
// instance metadata service with a session token (IMDSv2).
//
// IMDSv1 fallback: taken, as the SDKs take it, only when the token request is answered 403,
// 404 or 405 (a service or proxy that does not offer tokens). A token request that gets no
// answer at all is not retried without a token: on EC2 that is the container hop-limit case,
// where IMDSv1 is usually disabled too, and the message names the fix instead.
#include <kache/remote/credentials.hpp>

#include "credential_reply.hpp"
#include "curl_transport.hpp"
#include "http_url.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <memory>

namespace kache::remote {

namespace {

constexpr std::string_view k_imds_origin = "http://169.254.169.254";
constexpr std::string_view k_imds_origin_v6 = "http://[fd00:ec2::254]";
constexpr std::string_view k_token_path = "/latest/api/token";
constexpr std::string_view k_roles_path = "/latest/meta-data/iam/security-credentials/";
// How long the session token is asked for (the SDKs' value: 6 hours).
constexpr std::string_view k_token_ttl_seconds = "21600";
// The metadata service is link-local: if nothing accepts a connection within this long there
// is none (a laptop, a CI runner off EC2), and the chain must not keep a build waiting.
inline constexpr std::chrono::milliseconds k_metadata_connect_timeout{1'000};
// IAM role names: up to 64 of [A-Za-z0-9+=,.@_-].
constexpr std::size_t k_max_role_name = 64;

struct ImdsState {
    std::string origin;               // e.g. "http://169.254.169.254"
    std::optional<Error> config_error; // a bad AWS_EC2_METADATA_SERVICE_ENDPOINT
    // Set once nothing answered at the address: the service is not there for this process,
    // and later refreshes do not wait for the connect timeout again.
    std::atomic<bool> absent{false};
};

bool role_name_ok(std::string_view r) {
    if (r.empty() || r.size() > k_max_role_name) return false;
    return std::all_of(r.begin(), r.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '_' || c == '-';
    });
}

bool token_ok(std::string_view t) {
    if (t.empty() || t.size() > detail::k_max_credential_field) return false;
    return std::all_of(t.begin(), t.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

std::string lowercase(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
}

std::shared_ptr<ImdsState> resolve(const EnvLookup& env) {
    auto st = std::make_shared<ImdsState>();
    auto endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (endpoint && !endpoint->empty()) {
        auto u = detail::parse_http_url(*endpoint);
        if (!u) {
            st->config_error = Error{ErrorKind::config, "AWS_EC2_METADATA_SERVICE_ENDPOINT: " + u.error().message};
            return st;
        }
        st->origin = detail::url_origin(*u); // the paths are the service's own
        return st;
    }
    auto mode = env("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
    st->origin = mode && lowercase(*mode) == "ipv6" ? k_imds_origin_v6 : k_imds_origin;
    return st;
}

class Fetch {
public:
    explicit Fetch(ImdsState& st)
        : st_(st), transport_(detail::TransportOptions{
                       k_metadata_connect_timeout,
                       std::chrono::duration_cast<std::chrono::seconds>(k_credential_endpoint_timeout), 1,
                       k_credential_endpoint_timeout, {}}) {}

    Result<std::optional<Credentials>> run() {
        // 1. The session token.
        detail::HttpRequest put;
        put.method = "PUT";
        put.url = st_.origin + std::string(k_token_path);
        put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", std::string(k_token_ttl_seconds)}};
        auto resp = transport_.perform(put);
        if (!resp) {
            if (resp.error().connect_failed) {
                st_.absent = true;
                return std::optional<Credentials>{};
            }
            return fail(resp.error().error.kind,
                        "instance metadata at " + st_.origin + ": no answer to the token request (" +
                            resp.error().error.message +
                            "); in a container on EC2, raise the instance's metadata hop limit to 2");
        }
        std::string token;
        if (resp->status == 200) {
            token = resp->body;
            if (!token_ok(token))
                return fail(ErrorKind::invalid_input, "instance metadata at " + st_.origin + ": malformed session token");
        } else if (resp->status != 403 && resp->status != 404 && resp->status != 405) {
            return status_error("the token request", resp->status);
        }
        version_ = token.empty() ? "IMDSv1" : "IMDSv2";

        // 2. The role attached to the instance: the first line of the listing.
        auto roles = get(std::string(k_roles_path), token);
        if (!roles) return std::unexpected(roles.error());
        if (roles->status == 404) return std::optional<Credentials>{}; // no role attached
        if (roles->status != 200) return status_error("the role listing", roles->status);
        std::string_view listing = roles->body;
        std::string role(listing.substr(0, listing.find_first_of("\r\n")));
        if (!role_name_ok(role))
            return fail(ErrorKind::invalid_input, "instance metadata at " + st_.origin + ": malformed role name");

        // 3. The role's credentials.
        auto creds = get(std::string(k_roles_path) + role, token);
        if (!creds) return std::unexpected(creds.error());
        if (creds->status != 200) return status_error("the credentials of role " + role, creds->status);
        auto c = detail::parse_credential_reply(creds->body, detail::ReplyShape::instance,
                                                "instance metadata (" + version_ + ", role " + role + ")");
        if (!c) return std::unexpected(c.error());
        return std::optional<Credentials>{std::move(*c)};
    }

private:
    Result<detail::HttpResponse> get(const std::string& path, const std::string& token) {
        detail::HttpRequest req;
        req.method = "GET";
        req.url = st_.origin + path;
        if (!token.empty()) req.headers.emplace_back("X-aws-ec2-metadata-token", token);
        auto resp = transport_.perform(req);
        if (!resp)
            return fail(resp.error().error.kind, "instance metadata at " + st_.origin + ": " + resp.error().error.message);
        if (resp->body.size() > k_max_credential_reply)
            return fail(ErrorKind::invalid_input, "instance metadata at " + st_.origin + ": reply over " +
                                                      std::to_string(k_max_credential_reply) + " bytes");
        return std::move(*resp);
    }

    std::unexpected<Error> status_error(const std::string& what, long status) const {
        ErrorKind kind = status == 401 || status == 403 ? ErrorKind::denied
                         : status == 429              ? ErrorKind::throttled
                         : status >= 500              ? ErrorKind::server
                                                      : ErrorKind::config;
        std::string msg = "instance metadata at " + st_.origin + " (" + version_ + "): HTTP " + std::to_string(status) +
                          " for " + what;
        if (status == 401) msg += ": the session token was refused";
        return fail(kind, msg);
    }

    ImdsState& st_;
    detail::CurlTransport transport_; // one per fetch: its three requests share a connection
    std::string version_ = "IMDSv2";
};

} // namespace

CredentialSource instance_metadata_credentials(const EnvLookup& env) {
    auto disabled = env("AWS_EC2_METADATA_DISABLED");
    if (disabled && lowercase(*disabled) == "true")
        return []() -> Result<std::optional<Credentials>> { return std::optional<Credentials>{}; };
    auto st = resolve(env);
    return [st]() -> Result<std::optional<Credentials>> {
        if (st->config_error) return std::unexpected(*st->config_error);
        if (st->absent) return std::optional<Credentials>{};
        return Fetch(*st).run();
    };
}

} // namespace kache::remote
