// store::parse_manifest on any bytes: an error value or a manifest that
// survives a serialize/parse round trip unchanged. Never a crash.
#include <kache/store.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto m = store::parse_manifest(text);
    if (!m) {
        if (m.error().kind != ErrorKind::corrupt) fuzz::violated("a manifest error that is not corrupt");
        return 0;
    }
    std::string again = store::serialize_manifest(*m);
    auto back = store::parse_manifest(again);
    if (!back) fuzz::violated("a parsed manifest does not parse after serializing");
    if (store::serialize_manifest(*back) != again) fuzz::violated("a manifest changes across a round trip");
    for (auto& set : back->sets) (void)set.digest();
    return 0;
}
