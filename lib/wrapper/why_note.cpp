// A miss's why-miss data: the unit, K1's components, the words cargo took from
// RUSTFLAGS (so a flag can be traced to them) and, when recorded, the input set.
#include "miss_notes.hpp"

#include <kache/util/fs.hpp>
#include <kache/why.hpp>

namespace kache::wrapper {

namespace {

// RUSTFLAGS words kept at most (each is printed only when it names a change).
inline constexpr std::size_t k_max_rustflags = 512;

why::Unit unit_of(const Context& c) {
    std::string kind;
    if (c.inv.crate_name.starts_with("build_script_")) kind = "build-script";
    else if (c.inv.test) kind = "test";
    else if (c.inv.crate_types.empty()) kind = "bin";
    else
        for (auto& t : c.inv.crate_types) kind += (kind.empty() ? "" : "+") + t;
    return {c.package_name(), c.inv.crate_name, kind};
}

// Cargo passes RUSTFLAGS' words on the command line and tells rustc's wrapper
// which they were in CARGO_ENCODED_RUSTFLAGS (0x1f between words).
std::vector<std::string> rustflags() {
    std::vector<std::string> out;
    if (auto enc = util::env("CARGO_ENCODED_RUSTFLAGS")) {
        out = util::split_list(*enc, '\x1f');
    } else if (auto plain = util::env("RUSTFLAGS")) {
        std::string word;
        for (char ch : *plain + " ") {
            if (ch != ' ' && ch != '\t' && ch != '\n') word += ch;
            else if (!word.empty()) out.push_back(std::exchange(word, {}));
        }
    }
    std::erase(out, std::string());
    if (out.size() > k_max_rustflags) out.resize(k_max_rustflags);
    return out;
}

} // namespace

void note_miss(const Context& c, const key::InputSet* recorded, const std::string& reason) {
    if (!c.store || c.k1_components.empty()) return;
    why::Record r;
    r.unit = unit_of(c);
    if (!why::valid_name(r.unit.package) || !why::valid_name(r.unit.crate) || !why::valid_name(r.unit.kind)) return;
    r.k1 = c.k1;
    r.time_ms = util::now_ns() / 1000000;
    r.roots = c.paths.roots();
    r.rustflags = rustflags();
    r.components = c.k1_components;
    if (recorded) {
        r.inputs = *recorded;
        r.k2 = key::result_key(c.k1, *recorded);
        (void)why::write_recorded(*c.store, r);
    } else {
        r.note = reason;
    }
    (void)why::write_miss(*c.store, r);
}

} // namespace kache::wrapper
