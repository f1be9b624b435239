// kache sync: exchange entries with the remote.
#include "../common/kached_specs.hpp"
#include "commands.hpp"

#include <kache/config.hpp>
#include <kache/remote.hpp>
#include <kache/remote/access_log.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

namespace kache::kached {

namespace {
inline constexpr std::uint64_t k_max_jobs = 256;

// Writes the uses recorded during the sync to this machine's access object of the day.
Result<void> write_uses(remote::AccessRecorder& uses, const store::Store& store, const remote::BackendMaker& make) {
    auto machine = remote::machine_id(store);
    if (!machine) return std::unexpected(machine.error());
    auto backend = make();
    if (!backend) return std::unexpected(backend.error());
    auto written = uses.flush(**backend, *machine, store.tmp_dir());
    if (!written) return std::unexpected(written.error());
    return {};
}

} // namespace

int cmd_sync(std::span<const std::string> argv) {
    const auto spec = cli::sync_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    remote::SyncOptions opt;
    bool push = args->has("--push"), pull = args->has("--pull");
    bool allow_partial = args->has("--allow-partial"), all = args->has("--all");
    bool workspace = args->has("--workspace");
    if (all && workspace) return cli::usage_error(spec, "--all and --workspace exclude each other");
    opt.dry_run = args->has("--dry-run");
    if (auto j = args->value("--jobs")) {
        auto n = cli::parse_count(*j, 1, k_max_jobs);
        if (!n) return cli::usage_error(spec, "--jobs: " + n.error());
        opt.jobs = static_cast<int>(*n);
    }
    if (push || pull) {
        opt.push = push;
        opt.pull = pull;
    }
    auto cfg = config::load();
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    if (!cfg.remote.configured()) {
        std::fprintf(stderr, "kache sync: no remote configured: set KACHE_S3_BUCKET (and KACHE_S3_ENDPOINT), "
                             "KACHE_REMOTE_DIR, or [remote] in config.toml\n");
        return 1;
    }
    if (cfg.remote.read_only && opt.push) {
        if (push) {
            std::fprintf(stderr, "kache sync: the remote is read-only (KACHE_REMOTE_READONLY); not pushing\n");
            return 1;
        }
        opt.push = false;
    }
    // Which packages move, both ways: the workspace members (--workspace), everything
    // (--all, or outside a workspace), or by default those of the current Cargo.lock.
    auto lockfile = daemon::find_cargo_lock(std::filesystem::current_path());
    if (workspace || (!all && lockfile)) {
        auto crates = workspace ? remote::workspace_members(std::filesystem::current_path())
                                : remote::packages_in_lockfile(*lockfile);
        if (!crates) {
            std::fprintf(stderr, "kache sync: %s\n", crates.error().message.c_str());
            return 1;
        }
        opt.crates = std::move(*crates);
    }
    opt.limits = remote::PackLimits::for_max_size(cfg.max_size);
    auto store = store::Store::open(cfg.cache_dir);
    if (!store) {
        std::fprintf(stderr, "kache sync: %s\n", store.error().message.c_str());
        return 1;
    }
    remote::register_builtin_backends();
    remote::RemoteSpec rspec{cfg.remote.url, cfg.remote.options, cfg.remote.read_only};
    auto make = [&] { return remote::Registry::instance().create(rspec); };
    if (::isatty(2))
        opt.progress = [](std::size_t done, std::size_t total) {
            std::fprintf(stderr, "\r[kache] sync: %zu/%zu", done, total);
            if (done == total) std::fputc('\n', stderr);
        };
    // Packs pulled are recorded for `kache remote gc`, written once at the end.
    remote::AccessRecorder uses;
    if (!cfg.remote.read_only) opt.on_pulled = [&uses](const std::string& key) { uses.record_manifest_key(key); };
    auto report = remote::sync(*store, make, opt);
    if (!report) {
        std::fprintf(stderr, "kache sync: %s\n", report.error().message.c_str());
        return 1;
    }
    if (uses.dirty())
        if (auto w = write_uses(uses, *store, make); !w)
            std::fprintf(stderr, "kache sync: warning: cannot record the packs pulled (for kache remote gc): %s\n",
                         w.error().message.c_str());
    for (auto& e : report->errors) std::fprintf(stderr, "kache sync: failed: %s\n", e.c_str());
    std::printf("%s%zu pushed (%s), %zu pulled (%s), %zu up to date, %zu skipped, %zu failed, %.1f s\n",
                opt.dry_run ? "dry run: would have " : "", report->pushed, util::human_bytes(report->bytes_up).c_str(),
                report->pulled, util::human_bytes(report->bytes_down).c_str(), report->up_to_date, report->skipped,
                report->failed, report->seconds);
    return report->failed > 0 && !allow_partial ? 1 : 0;
}

} // namespace kache::kached
