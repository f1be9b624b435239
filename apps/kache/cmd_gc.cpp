// kache gc: keep the store under max_size, least recently used first; --max-age drops stale entries.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/size_cap.hpp>
#include <kache/util/fs.hpp>

#include <cstdio>

namespace kache::app {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec spec_gc() {
    return {
        .command = "kache gc",
        .summary = "Keep the local store under max_size: the least recently used entries go first; corrupt\n"
                   "entries and manifests, orphan blobs and dead temp files are removed too.",
        .options = {{"--max-age", "DUR", "also remove entries not used for DUR (90s, 15m, 12h, 7d, 2w)"},
                    {"--if-over-cap", {}, "only when the store's size counter is over max_size, down to 90% of it, "
                                          "and not while another such trim runs (what a miss starts without a daemon)"}},
        .details = "An entry is used when it is recorded or restored. Entries the daemon has still to upload\n"
                   "are kept whatever their age.",
    };
}

int cmd_gc(std::span<const std::string> argv) {
    const auto spec = spec_gc();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    std::int64_t max_age_ns = 0;
    if (auto v = args->value("--max-age")) {
        auto d = cli::parse_duration(*v);
        if (!d) return cli::usage_error(spec, "--max-age: " + d.error());
        if (d->count() == 0) return cli::usage_error(spec, "--max-age: must be more than 0s");
        max_age_ns = std::int64_t(d->count()) * 1000000000;
    }
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto& [cfg, store] = *opened;
    if (args->has("--if-over-cap")) {
        auto t = store::trim_if_over_cap(store, cfg.max_size);
        if (!t) std::fprintf(stderr, "kache gc: %s\n", t.error().message.c_str());
        return t ? 0 : 1;
    }
    auto r = store.gc(cfg.max_size, max_age_ns);
    if (!r) {
        std::fprintf(stderr, "kache gc: %s\n", r.error().message.c_str());
        return 1;
    }
    if (r->corrupt_removed)
        std::printf("removed %llu corrupt entries and manifests\n", (unsigned long long)r->corrupt_removed);
    std::printf("removed %llu entries, %llu blobs (%s), %llu temp files; store is %s (limit %s)\n",
                (unsigned long long)r->entries_removed, (unsigned long long)r->blobs_removed,
                util::human_bytes(r->bytes_freed).c_str(), (unsigned long long)r->temp_files_removed,
                util::human_bytes(r->bytes_after).c_str(), util::human_bytes(cfg.max_size).c_str());
    return 0;
}

} // namespace kache::app
