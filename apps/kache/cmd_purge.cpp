// kache purge: empty the store, or remove one crate's entries.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <cstdio>

namespace kache::app {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec spec_purge() {
    return {
        .command = "kache purge",
        .summary = "Empty the local store, or remove the entries of one crate.",
        .options = {{"--crate", "NAME", "remove only this crate's entries"}},
    };
}

int cmd_purge(std::span<const std::string> argv) {
    const auto spec = spec_purge();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    std::string crate = args->value("--crate").value_or("");
    if (args->has("--crate") && crate.empty()) return cli::usage_error(spec, "--crate needs a crate name");
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto& store = opened->store;
    if (crate.empty()) {
        if (auto r = store.purge_all(); !r) {
            std::fprintf(stderr, "kache: %s\n", r.error().message.c_str());
            return 1;
        }
        std::printf("purged %s\n", store.root().c_str());
        return 0;
    }
    std::size_t removed = 0;
    for (auto& e : store.list_entries()) {
        if (e.crate != crate && e.crate.rfind(crate + " ", 0) != 0) continue;
        if (store.remove_entry(e.k2)) ++removed;
    }
    std::printf("removed %zu entries of %s\n", removed, crate.c_str());
    return 0;
}

} // namespace kache::app
