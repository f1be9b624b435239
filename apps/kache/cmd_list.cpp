// kache list: the entries of the local store.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/util/fs.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace kache::app {

namespace {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec make_spec() {
    return {
        .command = "kache list",
        .summary = "The entries in the local store, by crate (newest first), optionally of one crate only.",
        .operands = "[CRATE]",
        .max_operands = 1,
    };
}

} // namespace

int cmd_list(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto entries = opened->store.list_entries();
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) {
        return a.crate != b.crate ? a.crate < b.crate : a.created_ms > b.created_ms;
    });
    const auto& only = args->operands();
    for (auto& e : entries) {
        if (!only.empty() && e.crate != only[0] && e.crate.rfind(only[0] + " ", 0) != 0) continue;
        std::time_t t = static_cast<std::time_t>(e.created_ms / 1000);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
        std::printf("%-32s %-10s %s  %3zu files  %10s  %s\n", e.crate.c_str(), e.version.c_str(),
                    e.k2.hex().substr(0, 16).c_str(), e.outputs.size(), util::human_bytes(e.total_size()).c_str(), when);
    }
    return 0;
}

} // namespace kache::app
