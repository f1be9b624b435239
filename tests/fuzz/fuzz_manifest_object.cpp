// remote::parse_manifest_object (one input set fetched from a remote) on any bytes.
#include <kache/remote/pack.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto set = remote::parse_manifest_object(text);
    if (!set) {
        if (set.error().kind != ErrorKind::corrupt) fuzz::violated("a manifest object error that is not corrupt");
        return 0;
    }
    auto back = remote::parse_manifest_object(remote::manifest_object(*set));
    if (!back || !(*back == *set)) fuzz::violated("a manifest object changes across a round trip");
    return 0;
}
