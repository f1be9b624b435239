// kache daemon [SUBCOMMAND]: the daemon's lifecycle, status and log.
#include "../common/kached_specs.hpp"
#include "commands.hpp"

#include <kache/config.hpp>
#include <kache/daemon/service.hpp>

#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

namespace kache::kached {

namespace {

// Lines `kache daemon log` shows by default, and at most.
inline constexpr std::uint64_t k_log_lines = 50;
inline constexpr std::uint64_t k_max_log_lines = 1000000;
// How long `status` waits for the daemon to answer before calling it not running.
inline constexpr std::chrono::milliseconds k_status_timeout{2000};

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

int fail(std::string_view what, const Error& e) {
    std::fprintf(stderr, "%.*s: %s\n", int(what.size()), what.data(), e.message.c_str());
    return 1;
}

int status(const daemon::Options& opt, bool json) {
    auto s = daemon::query_status(opt.socket, k_status_timeout);
    if (!s) {
        if (json) std::printf("%s\n", daemon::status_without_daemon(opt).to_message().to_json().c_str());
        else std::printf("running           no (socket %s; start it with kache daemon start)\n", opt.socket.c_str());
        return cli::k_not_running_exit;
    }
    print_status(*s, json);
    return 0;
}

int start(const daemon::Options& opt) {
    auto pid = daemon::start_background(opt.socket, opt.restart_argv, opt.log_file, std::chrono::seconds(10));
    if (!pid) return fail("kache daemon start", pid.error());
    std::printf("kached running (pid %d) on %s\n", *pid, opt.socket.c_str());
    return 0;
}

int stop(const daemon::Options& opt, bool then_start) {
    auto r = daemon::stop(opt.socket, std::chrono::seconds(35));
    if (!r && r.error().kind != ErrorKind::not_found) return fail("kache daemon stop", r.error());
    if (then_start) return start(opt);
    std::printf(r ? "kached stopped\n" : "kached was not running\n");
    return 0;
}

int log(const daemon::Options& opt, const cli::Spec& spec, const cli::Args& args) {
    std::uint64_t lines = k_log_lines;
    if (auto n = args.value("--lines")) {
        auto v = cli::parse_count(*n, 1, k_max_log_lines);
        if (!v) return cli::usage_error(spec, "--lines: " + v.error());
        lines = *v;
    }
    if (::access(opt.log_file.c_str(), F_OK) != 0) {
        std::fprintf(stderr, "kache daemon log: no log at %s: the daemon has not run here yet (kache daemon start)\n",
                     opt.log_file.c_str());
        return 1;
    }
    std::vector<std::string> cmd = {"tail", "-n", std::to_string(lines)};
    if (args.has("--follow")) cmd.push_back("-F");
    cmd.push_back(opt.log_file.string());
    std::vector<char*> argv;
    for (auto& a : cmd) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execvp("tail", argv.data());
    std::fprintf(stderr, "kache daemon log: cannot run tail; the log is %s\n", opt.log_file.c_str());
    return 1;
}

int service(const std::string& sub) {
    if (sub == "uninstall") {
        auto unit = daemon::uninstall_service();
        if (!unit) return fail("kache daemon uninstall", unit.error());
        std::printf("removed %s\n", unit->c_str());
        return 0;
    }
    auto opt = daemon_options();
    if (!opt) return fail("kache daemon install", opt.error());
    auto installed = daemon::install_service(opt->restart_argv.front());
    if (!installed) return fail("kache daemon install", installed.error());
    std::printf("installed %s%s\n", installed->unit_file.c_str(),
                installed->enabled ? " (enabled and started)" : " (could not enable it)");
    return installed->enabled ? 0 : 1;
}

} // namespace

int cmd_daemon(std::span<const std::string> argv) {
    // `kache daemon` alone (or with --json/--help) is the status; a first word that is
    // no option names the subcommand, which parses the rest with its own spec.
    if (argv.empty() || argv[0].starts_with("-")) {
        const auto spec = cli::daemon_spec();
        auto args = cli::parse(spec, argv);
        if (!args) return args.error();
        if (!args->operands().empty()) return cli::usage_error(spec, "options go after the subcommand");
        auto opt = daemon_options();
        if (!opt) return fail("kache daemon", opt.error());
        return status(*opt, args->has("--json"));
    }
    const std::string& sub = argv[0];
    const auto subs = cli::daemon_subcommand_specs();
    const cli::Spec* spec = nullptr;
    for (auto& s : subs)
        if (s.command.substr(s.command.rfind(' ') + 1) == sub) spec = &s;
    if (!spec) return cli::usage_error(cli::daemon_spec(), "unknown subcommand " + sub);
    auto args = cli::parse(*spec, argv.subspan(1));
    if (!args) return args.error();
    if (sub == "run") return run_daemon();
    if (sub == "install" || sub == "uninstall") return service(sub);
    auto opt = daemon_options();
    if (!opt) return fail("kache daemon", opt.error());
    if (sub == "start") return start(*opt);
    if (sub == "stop" || sub == "restart") return stop(*opt, sub == "restart");
    if (sub == "status") return status(*opt, args->has("--json"));
    return log(*opt, *spec, *args);
}

} // namespace kache::kached
