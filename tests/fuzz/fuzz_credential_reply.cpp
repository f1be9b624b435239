// The credential replies of the container endpoint and the instance metadata service
// (detail::parse_credential_reply, both shapes), their timestamps, and the endpoint URLs
// read from the environment (detail::parse_http_url), on any bytes.
#include "../../lib/remote/credential_reply.hpp"
#include "../../lib/remote/http_url.hpp"

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

namespace {

// What reaches a signed HTTP header: non-empty printable ASCII without spaces.
bool header_safe(const std::string& s) {
    if (s.empty()) return false;
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    for (auto shape : {remote::detail::ReplyShape::container, remote::detail::ReplyShape::instance}) {
        auto c = remote::detail::parse_credential_reply(text, shape, "fuzz");
        if (!c) continue;
        if (!header_safe(c->access_key) || !header_safe(c->secret_key) || !header_safe(c->session_token))
            fuzz::violated("accepted credentials that cannot go into a header");
        if (!c->expiration) fuzz::violated("accepted temporary credentials without an expiration");
    }
    if (auto u = remote::detail::parse_http_url(text)) {
        if (u->scheme != "http" && u->scheme != "https") fuzz::violated("accepted a URL of another scheme");
        if (u->host.empty() || u->path.empty() || u->path.front() != '/') fuzz::violated("accepted a URL without host or path");
        // The origin rebuilt from the parts reads back the same.
        auto again = remote::detail::parse_http_url(remote::detail::url_origin(*u) + u->path);
        if (!again || again->host != u->host || again->port != u->port || again->path != u->path)
            fuzz::violated("a URL changes across a round trip");
    }
    return 0;
}
