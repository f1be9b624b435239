// rustc::parse_link_args (the linker command line rustc prints for `--print link-args`)
// on any bytes: an error value, or the files the link reads, each named once, and the
// same answer when parsed again. The file system is a pure function of the path, so a
// finding replays.
#include <kache/rustc.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <set>
#include <string>

using namespace kache;

namespace {

// A made-up file system: a path "exists" when its bytes sum to an even number, so both
// answers occur for `-l` candidates across the `-L` directories.
bool exists(const std::string& path) {
    unsigned sum = 0;
    for (unsigned char c : path) sum += c;
    return sum % 2 == 0;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::function<bool(const std::string&)> is_file = exists;
    auto first = rustc::parse_link_args(text, is_file);
    if (!first) return 0;
    std::set<std::string> seen;
    for (auto& f : first->files)
        if (!seen.insert(f).second) fuzz::violated("a file is named twice among the link inputs");
    auto again = rustc::parse_link_args(text, is_file);
    if (!again || again->files != first->files || again->unresolved != first->unresolved)
        fuzz::violated("parsing the same text twice gave different answers");
    return 0;
}
