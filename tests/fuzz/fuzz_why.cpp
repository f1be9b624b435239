// why::parse (the why-miss records in <store>/why/, read back as untrusted) on any
// bytes: an error value or a record that survives a serialize/parse round trip. Never a crash.
#include <kache/why.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto r = why::parse(text);
    if (!r) {
        if (r.error().kind != ErrorKind::corrupt) fuzz::violated("a why record error that is not corrupt");
        return 0;
    }
    std::string again = why::serialize(*r);
    auto back = why::parse(again);
    if (!back) fuzz::violated("a parsed why record does not parse after serializing");
    if (why::serialize(*back) != again) fuzz::violated("a why record changes across a round trip");
    return 0;
}
