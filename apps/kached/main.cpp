// kached: the remote side of kache — the daemon (`kached run`), its lifecycle
// (`kached daemon start|stop|...`, reached as `kache daemon ...`), and
// `kache sync`. The wrapper binary never loads libcurl; it hands remote work here.
#include <kache/config.hpp>
#include <kache/daemon.hpp>
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using namespace kache;

int usage_error(const std::string& msg) {
    std::fprintf(stderr, "kache sync: %s (usage: kache sync [--push] [--pull] [--dry-run] [--allow-partial] [--all] [--jobs N])\n",
                 msg.c_str());
    return 2;
}

int cmd_sync(const std::vector<std::string>& args) {
    remote::SyncOptions opt;
    bool push = false, pull = false, allow_partial = false, all = false;
    for (size_t i = 0; i < args.size(); ++i) {
        const auto& a = args[i];
        if (a == "--push") push = true;
        else if (a == "--pull") pull = true;
        else if (a == "--dry-run") opt.dry_run = true;
        else if (a == "--allow-partial") allow_partial = true;
        else if (a == "--all") all = true;
        else if (a == "--jobs" && i + 1 < args.size()) opt.jobs = std::atoi(args[++i].c_str());
        else if (a.rfind("--jobs=", 0) == 0) opt.jobs = std::atoi(a.c_str() + 7);
        else return usage_error("unknown argument " + a);
    }
    if (opt.jobs < 1 || opt.jobs > 256) return usage_error("--jobs takes a number from 1 to 256");
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
    // The workspace's Cargo.lock: here or in a parent (run from a member's directory).
    std::string lockfile;
    for (std::filesystem::path dir = std::filesystem::current_path();; dir = dir.parent_path()) {
        if (::access((dir / "Cargo.lock").c_str(), R_OK) == 0) {
            lockfile = (dir / "Cargo.lock").string();
            break;
        }
        if (dir == dir.parent_path()) break;
    }
    if (opt.pull && !all && !lockfile.empty()) {
        auto crates = remote::packages_in_lockfile(lockfile);
        if (!crates) {
            std::fprintf(stderr, "kache sync: %s\n", crates.error().message.c_str());
            return 1;
        }
        opt.crates = std::move(*crates);
    }
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

std::string self_exe() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("kached");
}

// The kache binary whose update should restart the daemon: beside us, or in the build tree.
std::string kache_binary() {
    std::string dir = self_exe();
    dir = dir.substr(0, dir.rfind('/'));
    for (std::string c : {dir + "/kache", dir + "/../kache/kache"})
        if (::access(c.c_str(), X_OK) == 0) return c;
    return "";
}

Result<daemon::Options> daemon_options() {
    auto cfg = config::load();
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    auto opt = daemon::Options::from(cfg);
    if (!opt) return opt;
    opt->watch_binary = kache_binary();
    opt->restart_argv = {self_exe(), "run"};
    return opt;
}

int cmd_run() {
    auto opt = daemon_options();
    if (!opt) {
        std::fprintf(stderr, "kached: %s\n", opt.error().message.c_str());
        return 1;
    }
    daemon::Daemon d(std::move(*opt));
    return d.run();
}

void print_status(const ipc::Message& m, bool json) {
    if (json) {
        std::printf("%s\n", m.to_json().c_str());
        return;
    }
    std::printf("running           yes (pid %lld, version %s)\n", (long long)m.num("pid").value_or(0),
                m.str("version").value_or("?").c_str());
    std::printf("socket            %s\n", m.str("socket").value_or("").c_str());
    std::printf("log file          %s\n", m.str("log_file").value_or("").c_str());
    std::printf("remote            %s\n", m.str("remote").value_or("none").c_str());
    std::printf("pending uploads   %lld (in flight %lld)\n", (long long)m.num("pending_uploads").value_or(0),
                (long long)m.num("uploads_in_flight").value_or(0));
    std::printf("uploaded          %lld (failures %lld)\n", (long long)m.num("uploaded").value_or(0),
                (long long)m.num("upload_failures").value_or(0));
    std::printf("remote checks     %lld (found %lld)\n", (long long)m.num("remote_checks").value_or(0),
                (long long)m.num("remote_checks_found").value_or(0));
    std::printf("prefetched        %lld entries\n", (long long)m.num("prefetched").value_or(0));
    auto err = m.str("last_error").value_or("");
    if (!err.empty()) std::printf("last error        %s\n", err.c_str());
}

constexpr const char* k_unit = R"([Unit]
Description=kache build cache daemon

[Service]
ExecStart=%s run
Restart=on-failure

[Install]
WantedBy=default.target
)";

int cmd_daemon(const std::vector<std::string>& args) {
    if (args.empty()) {
        std::fprintf(stderr, "usage: kache daemon start|stop|restart|status [--json]|log|run|install|uninstall\n");
        return 2;
    }
    const std::string& sub = args[0];
    if (sub == "run") return cmd_run();
    auto opt = daemon_options();
    if (!opt) {
        std::fprintf(stderr, "kache daemon: %s\n", opt.error().message.c_str());
        return 1;
    }
    auto start = [&]() -> int {
        auto pid = daemon::start_background(opt->socket, {self_exe(), "run"}, opt->log_file, std::chrono::seconds(10));
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
            if (json) {
                ipc::Message m;
                auto store = store::Store::open(opt->config.cache_dir);
                m.set_bool("running", false);
                m.set("pid", std::int64_t(0));
                m.set("pending_uploads", std::int64_t(store ? store->upload_intents().size() : 0));
                m.set("socket", opt->socket.string()); // escaped: a path may hold any byte but NUL
                std::printf("%s\n", m.to_json().c_str());
            } else std::printf("running           no (socket %s)\n", opt->socket.c_str());
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
    if (sub == "install" || sub == "uninstall") {
        if (std::system("systemctl --user show-environment >/dev/null 2>&1") != 0) {
            std::fprintf(stderr, "kache daemon: systemctl --user is not available here (no systemd user session); "
                                 "start the daemon with `kache daemon start` instead, e.g. from your shell profile\n");
            return 1;
        }
        const char* home = std::getenv("HOME");
        std::string dir = std::string(home ? home : "/root") + "/.config/systemd/user";
        std::string unit = dir + "/kached.service";
        if (sub == "uninstall") {
            std::system("systemctl --user disable --now kached.service >/dev/null 2>&1");
            ::unlink(unit.c_str());
            std::system("systemctl --user daemon-reload >/dev/null 2>&1");
            std::printf("removed %s\n", unit.c_str());
            return 0;
        }
        std::system(("mkdir -p '" + dir + "'").c_str());
        char text[1024];
        std::snprintf(text, sizeof text, k_unit, self_exe().c_str());
        FILE* f = std::fopen(unit.c_str(), "w");
        if (!f) {
            std::fprintf(stderr, "kache daemon: cannot write %s\n", unit.c_str());
            return 1;
        }
        std::fputs(text, f);
        std::fclose(f);
        int rc = std::system("systemctl --user daemon-reload && systemctl --user enable --now kached.service");
        std::printf("installed %s%s\n", unit.c_str(), rc == 0 ? " (enabled and started)" : " (could not enable it)");
        return rc == 0 ? 0 : 1;
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
