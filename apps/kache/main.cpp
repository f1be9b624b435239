// kache: the RUSTC_WRAPPER (when argv[1] names a compiler) and the CLI.
#include <kache/config.hpp>
#include <kache/events.hpp>
#include <kache/ipc.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>
#include <kache/util/process.hpp>
#include <kache/wrapper.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unistd.h>
#include <ctime>
#include <string>
#include <vector>

namespace {

using namespace kache;

constexpr const char* k_usage = R"(kache — a build cache for Rust

Use it as cargo's compiler wrapper:
  export RUSTC_WRAPPER=kache        # or build.rustc-wrapper in .cargo/config.toml
  cargo build

Commands:
  kache stats [--json] [--zero]   hits, misses, hit rate, time saved, store size
  kache list [CRATE]              entries in the local store
  kache purge [--crate NAME]      empty the store, or remove one crate's entries
  kache gc                        keep the store under max_size (least recently used go first)
  kache doctor [--verify] [--repair]
                                  check the store: entries, manifests, the blobs they name;
                                  --verify re-reads every blob, --repair removes what is corrupt
  kache daemon start|stop|restart|status [--json]|log|run|install|uninstall
  kache sync [--push] [--pull] [--dry-run] [--allow-partial] [--all] [--jobs N]
                                  exchange entries with the remote (S3 or a shared directory)
  kache --version | --help

Environment (overrides ~/.config/kache/config.toml):
  KACHE_CACHE_DIR        store location (default ~/.cache/kache)
  KACHE_DISABLED=1       pass every compile through untouched
  KACHE_PROGRESS=1       one line per cache hit on stderr
  KACHE_KEY_ENV_VARS     extra variables that belong in the cache key (A,B)
  KACHE_PRESERVE_INCREMENTAL=1   leave incremental compiles alone (not cached)
  KACHE_CONFIG           config file to read instead of the default
)";

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "kache: %s (see kache --help)\n", msg.c_str());
    return 2;
}

Result<store::Store> open_store(const config::Config& cfg) {
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    return store::Store::open(cfg.cache_dir);
}

int cmd_stats(const std::vector<std::string>& args) {
    bool json = false, zero = false;
    for (auto& a : args) {
        if (a == "--json") json = true;
        else if (a == "--zero") zero = true;
        else return usage_error("stats: unknown option " + a);
    }
    auto cfg = config::load();
    auto store = open_store(cfg);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return 1;
    }
    if (zero) {
        events::clear(store->events_dir());
        std::printf("statistics cleared\n");
        return 0;
    }
    auto s = events::summarize(events::read_all(store->events_dir()));
    auto u = store->usage();
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
                    (unsigned long long)u.blobs, util::json_escape(store->root().string()).c_str(), daemon.c_str());
        return 0;
    }
    std::printf("cache dir         %s\n", store->root().c_str());
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

int cmd_list(const std::vector<std::string>& args) {
    if (args.size() > 1) return usage_error("list takes at most one crate name");
    auto cfg = config::load();
    auto store = open_store(cfg);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return 1;
    }
    auto entries = store->list_entries();
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) {
        return a.crate != b.crate ? a.crate < b.crate : a.created_ms > b.created_ms;
    });
    for (auto& e : entries) {
        if (!args.empty() && e.crate != args[0] && e.crate.rfind(args[0] + " ", 0) != 0) continue;
        std::time_t t = static_cast<std::time_t>(e.created_ms / 1000);
        char when[32];
        std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
        std::printf("%-32s %-10s %s  %3zu files  %10s  %s\n", e.crate.c_str(), e.version.c_str(),
                    e.k2.hex().substr(0, 16).c_str(), e.outputs.size(), util::human_bytes(e.total_size()).c_str(), when);
    }
    return 0;
}

int cmd_purge(const std::vector<std::string>& args) {
    std::string crate;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--crate" && i + 1 < args.size()) crate = args[++i];
        else if (args[i].rfind("--crate=", 0) == 0) crate = args[i].substr(8);
        else return usage_error("purge: unknown argument " + args[i]);
    }
    auto cfg = config::load();
    auto store = open_store(cfg);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return 1;
    }
    if (crate.empty()) {
        if (auto r = store->purge_all(); !r) {
            std::fprintf(stderr, "kache: %s\n", r.error().message.c_str());
            return 1;
        }
        std::printf("purged %s\n", store->root().c_str());
        return 0;
    }
    std::size_t removed = 0;
    for (auto& e : store->list_entries()) {
        if (e.crate != crate && e.crate.rfind(crate + " ", 0) != 0) continue;
        if (store->remove_entry(e.k2)) ++removed;
    }
    std::printf("removed %zu entries of %s\n", removed, crate.c_str());
    return 0;
}

int cmd_gc(const std::vector<std::string>& args) {
    if (!args.empty()) return usage_error("gc takes no arguments");
    auto cfg = config::load();
    auto store = open_store(cfg);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return 1;
    }
    auto r = store->gc(cfg.max_size);
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

// Runs the store's checks; one line per problem with its fix, exit 1 if there was any.
int cmd_doctor(const std::vector<std::string>& args) {
    store::CheckOptions opt;
    for (auto& a : args) {
        if (a == "--verify") opt.verify_blobs = true;
        else if (a == "--repair") opt.repair = true;
        else if (a == "--help" || a == "-h") {
            std::printf("kache doctor [--verify] [--repair]: check the store (entries, manifests, the blobs they name);\n"
                        "  --verify re-reads every blob, --repair removes what is corrupt. Exit 1 if a problem was found.\n");
            return 0;
        }
        else return usage_error("doctor: unknown option " + a);
    }
    auto cfg = config::load();
    auto store = open_store(cfg);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return 1;
    }
    bool tty = ::isatty(2);
    if (tty)
        opt.progress = [last = std::chrono::steady_clock::time_point{}](std::string_view check, std::uint64_t done,
                                                                       std::uint64_t total, std::uint64_t bytes) mutable {
            auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100)) return; // a terminal line, not a flood
            last = now;
            std::fprintf(stderr, "\r\033[Kchecking %.*s: %llu/%llu (%s read)", int(check.size()), check.data(),
                         (unsigned long long)done, (unsigned long long)total, util::human_bytes(bytes).c_str());
        };
    auto r = store::check_store(*store, opt);
    if (tty) std::fputs("\r\033[K", stderr);
    for (auto& p : r.problems)
        std::printf("%s: %s; %s\n", p.repaired ? "repaired" : "problem", p.what.c_str(), p.fix.c_str());
    std::printf("checked %llu entries, %llu manifests", (unsigned long long)r.entries, (unsigned long long)r.manifests);
    if (opt.verify_blobs)
        std::printf(", %llu blobs (%s re-read)", (unsigned long long)r.blobs_read, util::human_bytes(r.bytes_read).c_str());
    std::printf(": %s\n", r.problems.empty() ? "no problems" : (std::to_string(r.problems.size()) + " problems").c_str());
    if (!opt.verify_blobs) std::printf("(blob contents were not re-read: add --verify)\n");
    return r.problems.empty() ? 0 : 1;
}

// The remote code lives in kached (see DESIGN.md, "Process start-up"): find it
// beside this binary, in the build tree's layout, or on PATH.
int run_kached(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {util::sibling_exe("kached").value_or("kached").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto e = util::exec_replace(argv);
    std::fprintf(stderr, "kache: %s: install kached next to kache\n", e.message.c_str());
    return 1;
}

} // namespace

int main(int argc, char** argv) {
    // Wrapper mode: cargo runs `kache <rustc> ...`, or `kache <workspace wrapper> <rustc> ...`
    // when RUSTC_WORKSPACE_WRAPPER is set (clippy-driver, or another tool).
    if (argc >= 2 && (kache::wrapper::names_compiler(argv[1]) ||
                      (argc >= 3 && argv[1][0] == '/' && kache::wrapper::names_compiler(argv[2]))))
        return kache::wrapper::run(std::vector<std::string>(argv + 1, argv + argc));

    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        std::fputs(k_usage, args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "-V") {
        std::printf("kache %s\n", KACHE_VERSION);
        return 0;
    }
    std::string cmd = args[0];
    args.erase(args.begin());
    if (cmd == "stats") return cmd_stats(args);
    if (cmd == "list") return cmd_list(args);
    if (cmd == "purge") return cmd_purge(args);
    if (cmd == "sync" || cmd == "daemon") {
        args.insert(args.begin(), cmd);
        return run_kached(args);
    }
    if (cmd == "gc") return cmd_gc(args);
    if (cmd == "doctor") return cmd_doctor(args);
    return usage_error("unknown command '" + cmd + "'");
}
