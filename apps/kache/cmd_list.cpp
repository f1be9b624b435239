// kache list: the entries of the local store.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/events.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <map>

namespace kache::app {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec spec_list() {
    return {
        .command = "kache list",
        .summary = "The entries in the local store, optionally of one crate only.",
        .options = {{"--sort", "KEY", "name (the default), size, hits or age"}},
        .operands = "[CRATE]",
        .max_operands = 1,
        .details = "Columns: crate, version, key, files, size, hits, created.\n"
                   "Sort keys: name (newest first within a crate), size (largest first), hits (most first),\n"
                   "age (newest first).\n"
                   "hits counts the cache hits of the crate in the event log (kache stats), for all of the\n"
                   "crate's entries together: the log names crates, not entries. kache stats --zero resets it.",
    };
}

int cmd_list(std::span<const std::string> argv) {
    const auto spec = spec_list();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    const std::string sort = args->value("--sort").value_or("name");
    if (sort != "name" && sort != "size" && sort != "hits" && sort != "age")
        return cli::usage_error(spec, "--sort: \"" + sort + "\" is not one of name, size, hits, age");
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto entries = opened->store.list_entries();
    const auto& only = args->operands();
    auto shown = [&](const store::Entry& e) {
        return only.empty() || e.crate == only[0] || e.crate.rfind(only[0] + " ", 0) == 0;
    };
    std::erase_if(entries, [&](const store::Entry& e) { return !shown(e); });
    std::map<std::string, std::uint64_t> hits;
    for (auto& ev : events::read_all(opened->store.events_dir()))
        if (ev.outcome == "hit") ++hits[ev.crate.substr(0, ev.crate.find(" ("))]; // "x (build script)" is x
    auto hits_of = [&](const store::Entry& e) {
        auto it = hits.find(e.crate);
        return it == hits.end() ? std::uint64_t{0} : it->second;
    };
    auto by_name = [](const store::Entry& a, const store::Entry& b) {
        return a.crate != b.crate ? a.crate < b.crate : a.created_ms > b.created_ms;
    };
    std::stable_sort(entries.begin(), entries.end(), [&](const store::Entry& a, const store::Entry& b) {
        if (sort == "size" && a.total_size() != b.total_size()) return a.total_size() > b.total_size();
        if (sort == "hits" && hits_of(a) != hits_of(b)) return hits_of(a) > hits_of(b);
        if (sort == "age" && a.created_ms != b.created_ms) return a.created_ms > b.created_ms;
        return by_name(a, b);
    });
    for (auto& e : entries) {
        std::time_t t = static_cast<std::time_t>(e.created_ms / 1000);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
        std::printf("%-32s %-10s %s  %3zu files  %10s  %5llu hits  %s\n", e.crate.c_str(), e.version.c_str(),
                    e.k2.hex().substr(0, 16).c_str(), e.outputs.size(), util::human_bytes(e.total_size()).c_str(),
                    (unsigned long long)hits_of(e), when);
    }
    return 0;
}

} // namespace kache::app
