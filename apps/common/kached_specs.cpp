#include "kached_specs.hpp"

namespace kache::cli {

Spec sync_spec() {
    return {
        .command = "kache sync",
        .summary = "Exchange entries with the remote (S3 or a shared directory): push local entries the remote\n"
                   "lacks and pull the ones it needs. Both ways by default, and only the packages of the\n"
                   "Cargo.lock at or above this directory (everything outside a workspace).",
        .options = {{"--push", {}, "only push"},
                    {"--pull", {}, "only pull"},
                    {"--dry-run", {}, "say what would move, move nothing"},
                    {"--allow-partial", {}, "exit 0 even if some entries failed"},
                    {"--all", {}, "every crate, not only those in Cargo.lock"},
                    {"--workspace", {}, "only the workspace's own members (cargo metadata)"},
                    {"--jobs", "N", "transfers at a time (1 to 256, default 16)"}},
        .details = "exit status: 0 done, 1 an error or a failed entry, 2 a usage error",
    };
}

namespace {

constexpr std::string_view k_status_exits =
    "exit status (the same with and without --json): 0 the daemon runs, 3 it does not run,\n"
    "1 an error, 2 a usage error";

} // namespace

Spec daemon_spec() {
    return {
        .command = "kache daemon",
        .summary = "The background daemon that talks to the remote: uploads, remote checks, prefetch.\n"
                   "Without a subcommand: its status (running or not, pid, version).",
        .options = {{"--json", {}, "the status as one JSON object"}},
        .operands = "[start|stop|restart|status|log|run|install|uninstall]",
        .max_operands = 1,
        .details = std::string_view(
            "subcommands (kache daemon SUBCOMMAND --help for each):\n"
            "  start      start it in the background\n"
            "  stop       stop it (uploads still queued stay queued)\n"
            "  restart    stop, then start\n"
            "  status     running or not, pid, version, queue\n"
            "  log        the end of its log file\n"
            "  run        run it in the foreground\n"
            "  install    install and start the user service (systemd)\n"
            "  uninstall  remove the user service\n\n"
            "exit status (the same with and without --json): 0 the daemon runs, 3 it does not run,\n"
            "1 an error, 2 a usage error"),
    };
}

std::vector<Spec> daemon_subcommand_specs() {
    return {
        {.command = "kache daemon start", .summary = "Start the daemon in the background (nothing to do if it runs)."},
        {.command = "kache daemon stop",
         .summary = "Stop the daemon; returns within seconds. Uploads still queued stay queued for its next run."},
        {.command = "kache daemon restart", .summary = "Stop the daemon, then start it again."},
        {.command = "kache daemon status",
         .summary = "Whether the daemon runs, its pid and version, its socket, log file, remote and upload queue.",
         .options = {{"--json", {}, "one JSON object instead of text"}},
         .details = k_status_exits},
        {.command = "kache daemon log",
         .summary = "The end of the daemon's log file. If no daemon ever ran there is no log: it says so and exits 1.",
         .options = {{"--lines", "N", "how many lines (default 50)"},
                     {"--follow", {}, "keep printing lines as they are written (until interrupted)"}}},
        {.command = "kache daemon run", .summary = "Run the daemon in the foreground (what the service runs)."},
        {.command = "kache daemon install",
         .summary = "Install the daemon as a user service (systemd), enable and start it."},
        {.command = "kache daemon uninstall", .summary = "Stop and remove the user service."},
    };
}

} // namespace kache::cli
