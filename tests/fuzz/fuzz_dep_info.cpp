// rustc::parse_dep_info (rustc's output, and a stored dep-info blob) on any bytes:
// an error value, or rules that write and parse back to the same inputs.
#include <kache/rustc.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto dep = rustc::parse_dep_info(text);
    if (!dep) return 0;
    (void)dep->inputs();
    dep->map_paths([](const std::string& p) { return "/root/" + p; });
    (void)rustc::parse_dep_info(rustc::write_dep_info(*dep));
    return 0;
}
