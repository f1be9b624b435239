// store::parse_entry on any bytes: an error value or an entry that survives a
// serialize/parse round trip unchanged. Never a crash.
#include <kache/store.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto e = store::parse_entry(text);
    if (!e) {
        if (e.error().kind != ErrorKind::corrupt) fuzz::violated("an entry error that is not corrupt");
        return 0;
    }
    std::string again = store::serialize_entry(*e);
    auto back = store::parse_entry(again);
    if (!back) fuzz::violated("a parsed entry does not parse after serializing");
    if (store::serialize_entry(*back) != again) fuzz::violated("an entry changes across a round trip");
    return 0;
}
