// kache stats: hits, misses, hit rate, time saved, store size, daemon state.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/events.hpp>
#include <kache/ipc.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>

#include <chrono>
#include <cstdio>

namespace kache::app {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec spec_stats() {
    return {
        .command = "kache stats",
        .summary = "Hits, misses, hit rate, time saved, store size and the daemon's state.",
        .options = {{"--json", {}, "one JSON object instead of text"},
                    {"--zero", {}, "clear the statistics (the event log) and exit"},
                    {"--since", "DUR", "count only builds of the last DUR (90s, 15m, 12h, 7d, 2w)"}},
    };
}

int cmd_stats(std::span<const std::string> argv) {
    const auto spec = spec_stats();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    bool json = args->has("--json"), zero = args->has("--zero");
    std::int64_t since_ms = 0; // events at or after this time count; 0: all
    if (auto v = args->value("--since")) {
        auto d = cli::parse_duration(*v);
        if (!d) return cli::usage_error(spec, "--since: " + d.error());
        since_ms = util::now_ns() / 1000000 - std::int64_t(d->count()) * 1000;
    }
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto& [cfg, store] = *opened;
    if (zero) {
        events::clear(store.events_dir());
        std::printf("statistics cleared\n");
        return 0;
    }
    auto all = events::read_all(store.events_dir());
    if (since_ms > 0) std::erase_if(all, [&](const events::Event& e) { return e.ts_ms < since_ms; });
    auto s = events::summarize(all);
    auto u = store.usage();
    std::string daemon = "offline";
    if (auto c = ipc::Client::connect(cfg.effective_socket_path(), std::chrono::milliseconds(100))) {
        if (auto r = c->call(ipc::Request::ping(), std::chrono::milliseconds(1000)))
            if (auto ping = ipc::PingReply::from(*r))
                daemon = "running (pid " + std::to_string(ping->pid) + ")";
    }
    if (json) {
        std::printf("{\"hits\":%llu,\"misses\":%llu,\"passthroughs\":%llu,\"errors\":%llu,\"hit_rate\":%.4f,"
                    "\"local_hits\":%llu,\"remote_hits\":%llu,\"prefetched_hits\":%llu,"
                    "\"time_saved_ms\":%lld,\"store_bytes\":%llu,\"entries\":%llu,\"blobs\":%llu,"
                    "\"cache_dir\":\"%s\",\"daemon\":\"%s\"}\n",
                    (unsigned long long)s.hits, (unsigned long long)s.misses, (unsigned long long)s.passthroughs,
                    (unsigned long long)s.errors, s.hit_rate(), (unsigned long long)s.local_hits,
                    (unsigned long long)s.remote_hits, (unsigned long long)s.prefetched_hits,
                    (long long)s.time_saved_ms, (unsigned long long)u.blob_bytes, (unsigned long long)u.entries,
                    (unsigned long long)u.blobs, util::json_escape(store.root().string()).c_str(), daemon.c_str());
        return 0;
    }
    std::printf("cache dir         %s\n", store.root().c_str());
    std::printf("hits              %llu", (unsigned long long)s.hits);
    if (s.remote_hits || s.prefetched_hits)
        std::printf(" (local %llu, prefetched %llu, remote %llu)", (unsigned long long)s.local_hits,
                    (unsigned long long)s.prefetched_hits, (unsigned long long)s.remote_hits);
    std::printf("\nmisses            %llu\n", (unsigned long long)s.misses);
    std::printf("passthroughs      %llu\n", (unsigned long long)s.passthroughs);
    std::printf("errors            %llu\n", (unsigned long long)s.errors);
    std::printf("hit rate          %.1f %%\n", 100.0 * s.hit_rate());
    std::printf("time saved        %.1f s\n", double(s.time_saved_ms) / 1000.0);
    std::printf("store size        %s in %llu blobs\n", util::human_bytes(u.blob_bytes).c_str(),
                (unsigned long long)u.blobs);
    std::printf("entries           %llu\n", (unsigned long long)u.entries);
    std::printf("daemon            %s\n", daemon.c_str());
    return 0;
}

} // namespace kache::app
