// `kache remote gc [--max-size SIZE] [--max-age DUR] [--dry-run]` (remote_gc_cmd.hpp).
#include "remote_gc_cmd.hpp"

#include "../common/cli.hpp"

#include <kache/config.hpp>
#include <kache/remote.hpp>
#include <kache/remote/access_log.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/remote_gc.hpp>
#include <kache/store.hpp>

#include <cstdio>
#include <span>

namespace kache::kached {

namespace {


const cli::Spec k_gc_spec{
    .command = "kache remote gc",
    .summary = "remove the least recently used packs (and their manifests) from the remote",
    .options = {{"--max-size", "SIZE", "keep the remote under SIZE (e.g. 50G)"},
                {"--max-age", "DUR", "remove packs nobody pulled or pushed for DUR (e.g. 30d)"},
                {"--dry-run", {}, "print what would go and the bytes freed; change nothing"}},
    .details = "A pack's last use is the newest day a machine pulled it (the daily access objects\n"
               "under v1/access/ that each machine's daemon and `kache sync --pull` write) or the\n"
               "day it was uploaded. Manifests are removed before their pack, so it is safe while\n"
               "other machines build: a racing reader at worst misses. Access objects older than\n"
               "--max-age (90 days without it) are removed. With neither limit, only manifests\n"
               "naming no pack and old access objects go.",
};

std::string last_used(const std::optional<std::int64_t>& day) { return day ? remote::day_text(*day) : "unknown"; }

int cmd_gc(std::span<const std::string> argv) {
    auto args = cli::parse(k_gc_spec, argv);
    if (!args) return args.error();
    remote::GcOptions opt;
    opt.dry_run = args->has("--dry-run");
    if (auto v = args->value("--max-size")) {
        auto n = config::parse_size(*v);
        if (!n) return cli::usage_error(k_gc_spec, "--max-size: " + n.error().message);
        opt.max_size = *n;
    }
    if (auto v = args->value("--max-age")) {
        auto d = cli::parse_duration(*v);
        if (!d) return cli::usage_error(k_gc_spec, "--max-age: " + d.error());
        opt.max_age = *d;
    }
    auto cfg = config::load();
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    if (!cfg.remote.configured()) {
        std::fprintf(stderr, "kache remote gc: no remote configured: set KACHE_S3_BUCKET (and KACHE_S3_ENDPOINT), "
                             "KACHE_REMOTE_DIR, or [remote] in config.toml\n");
        return 1;
    }
    if (cfg.remote.read_only && !opt.dry_run) {
        std::fprintf(stderr, "kache remote gc: the remote is read-only (KACHE_REMOTE_READONLY); try --dry-run\n");
        return 1;
    }
    auto store = store::Store::open(cfg.cache_dir);
    if (!store) {
        std::fprintf(stderr, "kache remote gc: %s\n", store.error().message.c_str());
        return 1;
    }
    opt.tmp_dir = store->tmp_dir(); // access objects are downloaded here
    remote::register_builtin_backends();
    auto backend = remote::Registry::instance().create({cfg.remote.url, cfg.remote.options, cfg.remote.read_only});
    if (!backend) {
        std::fprintf(stderr, "kache remote gc: %s\n", backend.error().message.c_str());
        return 1;
    }
    auto report = remote::gc(**backend, opt);
    if (!report) {
        std::fprintf(stderr, "kache remote gc: %s\n", report.error().message.c_str());
        return 1;
    }
    const char* verb = opt.dry_run ? "would remove" : "removed";
    for (auto& v : report->victims)
        std::printf("%s %s (%llu bytes, %zu manifests, last used %s)\n", verb, v.pack_key.c_str(),
                    static_cast<unsigned long long>(v.bytes), v.manifests.size(), last_used(v.last_day).c_str());
    for (auto& w : report->warnings) std::fprintf(stderr, "kache remote gc: warning: %s\n", w.c_str());
    if (report->stale_access)
        std::printf("%s %zu access objects past retention\n", verb, report->stale_access);
    if (report->compacted_access)
        std::printf("combined %zu access objects of past days into one per day\n", report->compacted_access);
    if (report->orphan_manifests)
        std::printf("%s %zu manifests naming no pack\n", verb, report->orphan_manifests);
    std::printf("%s %zu of %zu packs, %llu of %llu bytes freed%s\n", verb, report->victims.size(), report->packs,
                static_cast<unsigned long long>(report->bytes_freed),
                static_cast<unsigned long long>(report->bytes_before), opt.dry_run ? " (dry run)" : "");
    for (auto& e : report->errors) std::fprintf(stderr, "kache remote gc: failed: %s\n", e.c_str());
    return report->errors.empty() ? 0 : 1;
}

} // namespace

int cmd_remote(std::span<const std::string> args) {
    if (!args.empty() && args[0] == "gc") return cmd_gc(args.subspan(1));
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h")) {
        std::printf("usage: kache remote gc [--max-size SIZE] [--max-age DUR] [--dry-run]\n");
        return 0;
    }
    std::fprintf(stderr, "kache remote: expected `gc` (see kache remote gc --help)\n");
    return cli::k_usage_exit;
}

} // namespace kache::kached
