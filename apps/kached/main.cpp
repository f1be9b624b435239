// kached: the remote side of kache — the daemon (`kached run`), its lifecycle
// (`kached daemon start|stop|...`, reached as `kache daemon ...`), and
// `kache sync`. The wrapper binary never loads libcurl; it hands remote work here.
#include <kache/config.hpp>
#include <kache/daemon.hpp>
#include <kache/daemon/service.hpp>
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using namespace kache;

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "kache sync: %s (usage: kache sync [--push] [--pull] [--dry-run] [--allow-partial] [--all | --workspace] [--jobs N])\n",
                 msg.c_str());
    return 2;
}

int cmd_sync(const std::vector<std::string>& args) {
    remote::SyncOptions opt;
    bool push = false, pull = false, allow_partial = false, all = false, workspace = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (a == "--push") push = true;
        else if (a == "--pull") pull = true;
        else if (a == "--dry-run") opt.dry_run = true;
        else if (a == "--allow-partial") allow_partial = true;
        else if (a == "--all") all = true;
        else if (a == "--workspace") workspace = true;
        else if (a == "--jobs" && i + 1 < args.size()) opt.jobs = std::atoi(args[++i].c_str());
        else if (a.rfind("--jobs=", 0) == 0) opt.jobs = std::atoi(a.c_str() + 7);
        else return usage_error("unknown argument " + a);
    }
    if (opt.jobs < 1 || opt.jobs > 256) return usage_error("--jobs takes a number from 1 to 256");
    if (all && workspace) return usage_error("--all and --workspace exclude each other");
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
    remote::RemoteSpec spec{cfg.remote.url, cfg.remote.options, cfg.remote.read_only};
    auto make = [&] { return remote::Registry::instance().create(spec); };
    bool tty = ::isatty(2);
    if (tty)
        opt.progress = [](std::size_t done, std::size_t total) {
            std::fprintf(stderr, "\r[kache] sync: %zu/%zu", done, total);
            if (done == total) std::fputc('\n', stderr);
        };
    auto report = remote::sync(*store, make, opt);
    if (!report) {
        std::fprintf(stderr, "kache sync: %s\n", report.error().message.c_str());
        return 1;
    }
    for (auto& e : report->errors) std::fprintf(stderr, "kache sync: failed: %s\n", e.c_str());
    std::printf("%s%zu pushed (%.1f MB), %zu pulled (%.1f MB), %zu up to date, %zu skipped, %zu failed, %.1f s\n",
                opt.dry_run ? "dry run: would have " : "", report->pushed, double(report->bytes_up) / 1e6,
                report->pulled, double(report->bytes_down) / 1e6, report->up_to_date, report->skipped, report->failed,
                report->seconds);
    return report->failed > 0 && !allow_partial ? 1 : 0;
}

Result<daemon::Options> daemon_options() {
    auto cfg = config::load();
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    return daemon::Options::for_this_executable(cfg);
}

int cmd_run() {
    auto opt = daemon_options();
    if (!opt) {
        std::fprintf(stderr, "kached: %s\n", opt.error().message.c_str());
        return 1;
    }
    daemon::Daemon d(std::move(*opt));
    auto status = d.run();
    if (!status) {
        std::fprintf(stderr, "kached: %s\n", status.error().message.c_str());
        return 1;
    }
    return *status;
}

void print_status(const ipc::StatusReply& s, bool json) {
    if (json) {
        std::printf("%s\n", s.to_message().to_json().c_str());
        return;
    }
    std::printf("running           yes (pid %lld, version %s)\n", (long long)s.pid, s.version.c_str());
    std::printf("socket            %s\n", s.socket.c_str());
    std::printf("log file          %s\n", s.log_file.c_str());
    std::printf("remote            %s\n", s.remote.c_str());
    std::printf("pending uploads   %lld (in flight %lld)\n", (long long)s.pending_uploads, (long long)s.uploads_in_flight);
    std::printf("uploaded          %lld (failures %lld)\n", (long long)s.uploaded, (long long)s.upload_failures);
    std::printf("remote checks     %lld (found %lld)\n", (long long)s.remote_checks, (long long)s.remote_checks_found);
    std::printf("prefetched        %lld entries\n", (long long)s.prefetched);
    if (!s.last_error.empty()) std::printf("last error        %s\n", s.last_error.c_str());
}

int cmd_service(const std::string& sub) {
    if (sub == "uninstall") {
        auto unit = daemon::uninstall_service();
        if (!unit) {
            std::fprintf(stderr, "kache daemon: %s\n", unit.error().message.c_str());
            return 1;
        }
        std::printf("removed %s\n", unit->c_str());
        return 0;
    }
    auto opt = daemon_options();
    if (!opt) {
        std::fprintf(stderr, "kache daemon: %s\n", opt.error().message.c_str());
        return 1;
    }
    auto installed = daemon::install_service(opt->restart_argv.front());
    if (!installed) {
        std::fprintf(stderr, "kache daemon: %s\n", installed.error().message.c_str());
        return 1;
    }
    std::printf("installed %s%s\n", installed->unit_file.c_str(),
                installed->enabled ? " (enabled and started)" : " (could not enable it)");
    return installed->enabled ? 0 : 1;
}

int cmd_daemon(const std::vector<std::string>& args) {
    if (args.empty()) {
        std::fprintf(stderr, "usage: kache daemon start|stop|restart|status [--json]|log|run|install|uninstall\n");
        return 2;
    }
    const std::string& sub = args[0];
    if (sub == "run") return cmd_run();
    if (sub == "install" || sub == "uninstall") return cmd_service(sub);
    auto opt = daemon_options();
    if (!opt) {
        std::fprintf(stderr, "kache daemon: %s\n", opt.error().message.c_str());
        return 1;
    }
    auto start = [&]() -> int {
        auto pid = daemon::start_background(opt->socket, opt->restart_argv, opt->log_file, std::chrono::seconds(10));
        if (!pid) {
            std::fprintf(stderr, "kache daemon: %s\n", pid.error().message.c_str());
            return 1;
        }
        std::printf("kached running (pid %d) on %s\n", *pid, opt->socket.c_str());
        return 0;
    };
    if (sub == "start") return start();
    if (sub == "stop" || sub == "restart") {
        auto r = daemon::stop(opt->socket, std::chrono::seconds(35));
        if (!r && r.error().kind != ErrorKind::not_found) {
            std::fprintf(stderr, "kache daemon: %s\n", r.error().message.c_str());
            return 1;
        }
        if (sub == "stop") {
            std::printf(r ? "kached stopped\n" : "kached was not running\n");
            return 0;
        }
        return start();
    }
    if (sub == "status") {
        bool json = args.size() > 1 && args[1] == "--json";
        auto s = daemon::query_status(opt->socket, std::chrono::milliseconds(2000));
        if (!s) {
            if (json) std::printf("%s\n", daemon::status_without_daemon(*opt).to_message().to_json().c_str());
            else std::printf("running           no (socket %s)\n", opt->socket.c_str());
            return json ? 0 : 3;
        }
        print_status(*s, json);
        return 0;
    }
    if (sub == "log") {
        std::vector<std::string> cmd = {"tail", "-n", "50", "-F", opt->log_file.string()};
        std::vector<char*> argv;
        for (auto& a : cmd) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execvp("tail", argv.data());
        std::fprintf(stderr, "kache daemon: cannot run tail\n");
        return 1;
    }
    std::fprintf(stderr, "kache daemon: unknown subcommand %s\n", sub.c_str());
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (!args.empty() && args[0] == "sync") return cmd_sync({args.begin() + 1, args.end()});
    if (!args.empty() && args[0] == "run") return cmd_run();
    if (!args.empty() && args[0] == "daemon") return cmd_daemon({args.begin() + 1, args.end()});
    if (!args.empty() && (args[0] == "--version" || args[0] == "-V")) {
        std::printf("kached %s\n", KACHE_VERSION);
        return 0;
    }
    std::fprintf(stderr, "usage: kached run | kached daemon SUBCOMMAND | kached sync [options]\n"
                         "       (normally reached as `kache daemon ...` and `kache sync`)\n");
    return 2;
}
