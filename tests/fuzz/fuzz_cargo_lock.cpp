// daemon::parse_cargo_lock on any bytes. It keeps every [[package]] it reads: a
// lock may list one name and version twice (from two sources), so duplicates are
// not an error. What it guarantees: every package has a name and a version, the
// result is the same on a second parse, and the packages written back as a lock
// parse to the same packages (no package gained, lost or changed by parsing).
#include "../../lib/daemon/cargo_metadata.hpp"

#include "fuzz_support.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>

using namespace kache;

namespace {

std::vector<daemon::PackageVersion> sorted(std::vector<daemon::PackageVersion> v) {
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) {
        return a.name != b.name ? a.name < b.name : a.version < b.version;
    });
    return v;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto order = daemon::parse_cargo_lock(text);
    if (!order) {
        if (order.error().kind != ErrorKind::invalid_input) fuzz::violated("a Cargo.lock error that is not invalid_input");
        return 0;
    }
    if (order->empty()) fuzz::violated("a parsed Cargo.lock with no packages");
    std::string lock;
    for (auto& p : *order) {
        if (p.name.empty() || p.version.empty()) fuzz::violated("a package without a name or version");
        // Both come from between two quotes on one line.
        for (auto& s : {p.name, p.version})
            if (s.find_first_of("\"\n") != std::string::npos) fuzz::violated("a package field holds a quote or newline");
        lock += "[[package]]\nname = \"" + p.name + "\"\nversion = \"" + p.version + "\"\n\n";
    }
    auto twice = daemon::parse_cargo_lock(text);
    if (!twice || *twice != *order) fuzz::violated("a Cargo.lock parses differently the second time");
    auto back = daemon::parse_cargo_lock(lock);
    if (!back) fuzz::violated("the packages written back as a lock do not parse");
    if (back->size() != order->size() || sorted(*back) != sorted(*order))
        fuzz::violated("packages change when written back as a lock and parsed");
    return 0;
}
