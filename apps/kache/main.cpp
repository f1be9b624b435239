// kache: the RUSTC_WRAPPER (when argv[1] names a compiler) and the CLI.
#include "../common/kached_specs.hpp"
#include "commands.hpp"

#include <kache/util/process.hpp>
#include <kache/wrapper.hpp>

#include <array>
#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace kache;

// The remote code lives in kached (see DESIGN.md, "Process start-up"): find it
// beside this binary, in the build tree's layout, or on PATH.
int run_kached(std::string_view cmd, std::span<const std::string> args) {
    std::vector<std::string> argv = {util::sibling_exe("kached").value_or("kached").string(), std::string(cmd)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto e = util::exec_replace(argv);
    std::fprintf(stderr, "kache: %s: install kached next to kache\n", e.message.c_str());
    return 1;
}

int cmd_sync(std::span<const std::string> args) { return run_kached("sync", args); }
int cmd_daemon(std::span<const std::string> args) { return run_kached("daemon", args); }
int cmd_remote(std::span<const std::string> args) { return run_kached("remote", args); }

// Every subcommand, in the order `kache --help` lists them.
constexpr std::array k_commands = {
    app::Command{"stats", "stats [--json] [--zero] [--since DUR]", "hits, misses, hit rate, time saved, store size",
                 app::cmd_stats, app::spec_stats},
    app::Command{"list", "list [--sort KEY] [CRATE]", "entries in the local store", app::cmd_list, app::spec_list},
    app::Command{"purge", "purge [--crate NAME]", "empty the store, or remove one crate's entries", app::cmd_purge,
                 app::spec_purge},
    app::Command{"gc", "gc [--max-age DUR] [--if-over-cap]", "keep the store under max_size (least recently used go first)",
                 app::cmd_gc, app::spec_gc},
    app::Command{"config", "config [--json]", "the resolved configuration and where each value came from",
                 app::cmd_config, app::spec_config},
    app::Command{"report", "report [--format text|json|markdown|github|trace] [--since DUR] [--output FILE] [--top N]",
                 "per build session and crate: hits, misses and why, time saved; json, markdown, trace", app::cmd_report},
    app::Command{"doctor", "doctor [--verify] [--repair] [--store-only]",
                 "check the wiring, store, daemon and remote; --verify re-reads every blob, --repair removes what is corrupt", app::cmd_doctor},
    app::Command{"monitor", "monitor [--since DUR]", "a live view of the current build (q quits)", app::cmd_monitor},
    app::Command{"why-miss", "why-miss CRATE", "what changed since the nearest recorded entry of CRATE", app::cmd_why_miss},
    app::Command{"init", "init [-y] [--no-service] [--check]",
                 "make cargo use kache, write the config file, run the daemon as a user service", app::cmd_init},
    app::Command{"daemon", "daemon [start|stop|restart|status|log|run|install|uninstall]",
                 "the background daemon that talks to the remote (alone: its status)", cmd_daemon, cli::daemon_spec,
                 cli::daemon_subcommand_specs},
    app::Command{"sync", "sync [--push] [--pull] [--dry-run] [--allow-partial] [--all | --workspace] [--jobs N]",
                 "exchange entries with the remote (S3 or a shared directory)", cmd_sync, cli::sync_spec},
    app::Command{"completions", "completions bash|zsh|fish", "print a shell completion script",
                 app::cmd_completions, app::spec_completions},
    app::Command{"remote", "remote gc [--max-size SIZE] [--max-age DUR] [--dry-run]",
                 "bound the shared remote: remove least recently used packs", cmd_remote},
};

constexpr const char* k_intro = R"(kache — a build cache for Rust

Use it as cargo's compiler wrapper:
  export RUSTC_WRAPPER=kache        # or build.rustc-wrapper in .cargo/config.toml
  cargo build

Commands (kache CMD --help for each):
)";

constexpr const char* k_environment = R"(  kache --version | --help

Environment (overrides ~/.config/kache/config.toml):
  KACHE_CACHE_DIR        store location (default ~/.cache/kache)
  KACHE_DISABLED=1       pass every compile through untouched
  KACHE_PROGRESS=1       one line per cache hit on stderr
  KACHE_KEY_ENV_VARS     extra variables that belong in the cache key (A,B)
  KACHE_PRESERVE_INCREMENTAL=1   leave incremental compiles alone (not cached)
  KACHE_CONFIG           config file to read instead of the default
  KACHE_LOG              error|warn|info|debug: error hides kache's warnings (default warn)
  (kache config shows every setting and where it came from)
)";

void print_usage(std::FILE* out) {
    std::fputs(k_intro, out);
    for (auto& c : k_commands) {
        std::fprintf(out, "  kache %.*s\n", int(c.usage.size()), c.usage.data());
        std::fprintf(out, "      %.*s\n", int(c.summary.size()), c.summary.data());
    }
    std::fputs(k_environment, out);
}

} // namespace

std::span<const kache::app::Command> kache::app::command_table() { return k_commands; }

int main(int argc, char** argv) {
    // Wrapper mode: cargo runs `kache <rustc> ...`, or `kache <workspace wrapper> <rustc> ...`
    // when RUSTC_WORKSPACE_WRAPPER is set (clippy-driver, or another tool).
    if (argc >= 2 && (kache::wrapper::names_compiler(argv[1]) ||
                      (argc >= 3 && argv[1][0] == '/' && kache::wrapper::names_compiler(argv[2]))))
        return kache::wrapper::run(std::vector<std::string>(argv + 1, argv + argc));

    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version" || args[0] == "-V") {
        std::printf("kache %s\n", KACHE_VERSION);
        return 0;
    }
    for (auto& c : k_commands)
        if (c.name == args[0]) return c.run(std::span<const std::string>(args).subspan(1));
    std::fprintf(stderr, "kache: unknown command '%s' (see kache --help)\n", args[0].c_str());
    return 2;
}
