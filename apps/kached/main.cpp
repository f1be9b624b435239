// kached: the remote side of kache — the daemon (`kached run`), its lifecycle
// (`kached daemon start|stop|...`, reached as `kache daemon ...`), and
// `kache sync`. The wrapper binary never loads libcurl; it hands remote work here.
#include "commands.hpp"
#include "doctor_remote.hpp"
#include "remote_gc_cmd.hpp"

#include <kache/config.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace kache::kached {

Result<daemon::Options> daemon_options() {
    auto cfg = config::load();
    for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    return daemon::Options::for_this_executable(cfg);
}

int run_daemon() {
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

} // namespace kache::kached

int main(int argc, char** argv) {
    using namespace kache::kached;
    std::vector<std::string> args(argv + 1, argv + argc);
    std::span<const std::string> rest = args.empty() ? std::span<const std::string>() : std::span(args).subspan(1);
    if (!args.empty() && args[0] == "sync") return cmd_sync(rest);
    if (!args.empty() && args[0] == "remote") return cmd_remote(rest);
    if (!args.empty() && args[0] == "run") return run_daemon();
    if (!args.empty() && args[0] == "daemon") return cmd_daemon(rest);
    if (!args.empty() && args[0] == "doctor-remote") return kache::app::cmd_doctor_remote({args.begin() + 1, args.end()});
    if (!args.empty() && (args[0] == "--version" || args[0] == "-V")) {
        std::printf("kached %s\n", KACHE_VERSION);
        return 0;
    }
    bool help = !args.empty() && (args[0] == "--help" || args[0] == "-h");
    std::fprintf(help ? stdout : stderr, "usage: kached run | kached daemon SUBCOMMAND | kached sync [options]\n"
                                         "       (normally reached as `kache daemon ...` and `kache sync`)\n");
    return help ? 0 : 2;
}
