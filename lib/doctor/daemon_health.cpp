// The daemon: running on the configured socket, and the version of this binary.
#include <kache/doctor.hpp>
#include <kache/ipc.hpp>

namespace kache::doctor {

std::vector<Finding> check_daemon(const config::Config& cfg, std::string_view version) {
    std::vector<Finding> out;
    auto socket = cfg.effective_socket_path();
    Result<ipc::PingReply> ping = fail(ErrorKind::not_found, "no daemon");
    if (auto c = ipc::Client::connect(socket, k_daemon_ping_timeout)) {
        if (auto r = c->call(ipc::Request::ping(), k_daemon_ping_timeout)) ping = ipc::PingReply::from(*r);
        else ping = std::unexpected(r.error());
        if (!ping)
            out.push_back({Status::problem, "a daemon listens on " + socket.string() + " but does not answer: " +
                                                ping.error().message,
                           "kache daemon restart (kache daemon log shows what it is doing)"});
    }
    if (ping) {
        std::string running = "daemon running (pid " + std::to_string(ping->pid) + ", version " + ping->version + ")";
        if (ping->version == version)
            out.push_back({Status::ok, running, {}});
        else
            out.push_back({Status::problem, running + ", but this kache is version " + std::string(version),
                           "kache daemon restart"});
        return out;
    }
    if (!out.empty()) return out;
    if (cfg.remote.configured())
        out.push_back({Status::problem,
                       "no daemon running, but a remote is configured: builds neither check nor fill the remote",
                       "kache daemon start (or `kache init` to run it as a user service)"});
    else
        out.push_back({Status::ok, "no daemon running (none needed: no remote is configured)", {}});
    return out;
}

} // namespace kache::doctor
