// kache why-miss CRATE: what changed since the nearest recorded entry of the crate,
// for its latest miss (and the misses of its other units in the same build).
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/why.hpp>

#include <cstdio>
#include <ctime>

namespace kache::app {

namespace {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec make_spec() {
    return {
        .command = "kache why-miss",
        .summary = "Why the latest compile of CRATE was a miss: what differs from the nearest recorded entry\n"
                   "of the same crate (a flag and whether it came from RUSTFLAGS, a variable, a file, a\n"
                   "dependency, a feature, the profile, the toolchain).",
        .operands = "CRATE",
        .min_operands = 1,
        .max_operands = 1,
        .details = "CRATE is a package or crate name ('-' and '_' alike). Values of variables whose names\n"
                   "contain KEY, SECRET, TOKEN or PASSWORD are not shown.",
    };
}

std::string when(std::int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
    return buf;
}

std::string unit_name(const why::Unit& u) {
    std::string pkg = u.package;
    for (auto& c : pkg)
        if (c == '-') c = '_';
    return u.package + (pkg == u.crate ? "" : " [" + u.crate + "]") + " (" + u.kind + ")";
}

void print_miss(const store::Store& store, const why::Record& miss) {
    std::printf("%s: missed at %s\n", unit_name(miss.unit).c_str(), when(miss.time_ms).c_str());
    auto ex = why::explain(store, miss);
    if (ex.never_built) {
        std::printf("  never built before: nothing of this crate was recorded before this miss\n");
        if (!miss.note.empty()) std::printf("  (this compile was not recorded: %s)\n", miss.note.c_str());
        return;
    }
    std::printf("  compared with the nearest recorded entry (%s):\n", when(ex.nearest_ms.value_or(0)).c_str());
    for (auto& line : ex.changes) std::printf("  - %s\n", line.c_str());
}

} // namespace

int cmd_why_miss(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    const std::string& crate = args->operands()[0];
    if (!why::valid_name(crate) || crate.find('+') != std::string::npos)
        return cli::usage_error(spec, "'" + crate + "' is not a crate name");
    auto opened = open_configured_store();
    if (!opened) return 1;
    const auto& store = opened->store;
    auto misses = why::latest_misses(store, crate);
    if (misses.empty()) {
        if (why::known_crate(store, crate))
            std::printf("%s: no miss kept: its compiles since kache keeps them were hits\n", crate.c_str());
        else
            std::printf("%s: never built before (kache has recorded nothing of it)\n", crate.c_str());
        return 0;
    }
    for (auto& m : misses)
        if (misses.front().time_ms - m.time_ms <= why::k_same_build_ms) print_miss(store, m);
    return 0;
}

} // namespace kache::app
