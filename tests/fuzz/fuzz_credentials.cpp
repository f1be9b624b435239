// The parsers of credential answers (STS XML, credential_process JSON, ISO 8601 times) on
// any bytes: no crash, and whatever is accepted holds a key pair and an expiry in range.
#include <kache/remote/credentials.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto c = remote::parse_sts_credentials(text, "fuzz")) {
        if (c->access_key.empty() || c->secret_key.empty() || c->session_token.empty() || !c->expiration)
            kache::fuzz::violated("STS credentials accepted without a key, secret, token or expiry");
    }
    if (auto c = remote::parse_process_credentials(text, "fuzz")) {
        if (c->access_key.empty() || c->secret_key.empty())
            kache::fuzz::violated("process credentials accepted without a key pair");
    }
    (void)remote::parse_iso8601(text);
    return 0;
}
