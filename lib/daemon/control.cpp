// The daemon's lifecycle as `kache daemon ...` drives it from outside: options
// for this executable, status, start in the background, stop.
#include <kache/daemon.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace kache::daemon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// How long a status or stop request waits for the daemon's answer.
constexpr std::chrono::milliseconds k_request_timeout{2000};
// How often start and stop look whether the daemon came up or went away.
constexpr std::chrono::milliseconds k_start_poll{20};
constexpr std::chrono::milliseconds k_stop_poll{50};
// How long stop waits for the daemon to exit on its own (it cancels its transfers after
// a short drain) before it kills it: the intents on disk make that safe.
constexpr std::chrono::milliseconds k_stop_grace{8000};
constexpr std::chrono::milliseconds k_kill_wait{1000};

} // namespace

Result<Options> Options::from(const config::Config& cfg) {
    Options o;
    o.config = cfg;
    auto sock = ipc::socket_path(cfg.effective_socket_path());
    if (!sock) return std::unexpected(sock.error());
    o.socket = *sock;
    o.log_file = o.socket.parent_path() / "kached.log";
    return o;
}

Result<Options> Options::for_this_executable(const config::Config& cfg) {
    auto o = from(cfg);
    if (!o) return o;
    fs::path self = util::self_exe().value_or("kached");
    o->watch_binary = util::sibling_exe("kache").value_or(fs::path());
    o->restart_argv = {self.string(), "run"};
    return o;
}

Result<ipc::StatusReply> query_status(const fs::path& socket, std::chrono::milliseconds timeout) {
    auto c = ipc::Client::connect(socket, timeout);
    if (!c) return std::unexpected(c.error());
    auto m = c->call(ipc::Request::status(), timeout);
    if (!m) return std::unexpected(m.error());
    return ipc::StatusReply::from(*m);
}

ipc::StatusReply status_without_daemon(const Options& options) {
    ipc::StatusReply s;
    s.running = false;
    auto store = store::Store::open(options.config.cache_dir);
    s.pending_uploads = static_cast<std::int64_t>(store ? store->upload_intents().size() : 0);
    s.socket = options.socket.string();
    return s;
}

Result<int> start_background(const fs::path& socket, const std::vector<std::string>& argv, const fs::path& log_file,
                             std::chrono::milliseconds timeout) {
    if (auto s = query_status(socket, 500ms); s) return static_cast<int>(s->pid);
    if (auto spawned = util::spawn_detached(argv, log_file); !spawned) return std::unexpected(spawned.error());
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (auto s = query_status(socket, 200ms); s) return static_cast<int>(s->pid);
        std::this_thread::sleep_for(k_start_poll);
    }
    return fail(ErrorKind::timeout, "the daemon did not answer on " + socket.string() + " within " +
                                        std::to_string(timeout.count()) + " ms (see " + log_file.string() + ")");
}

Result<void> stop(const fs::path& socket, std::chrono::milliseconds timeout) {
    auto c = ipc::Client::connect(socket, 500ms);
    if (!c) return std::unexpected(c.error());
    auto status = c->call(ipc::Request::status(), k_request_timeout);
    auto parsed = status ? ipc::StatusReply::from(*status) : Result<ipc::StatusReply>(std::unexpected(status.error()));
    pid_t pid = parsed ? static_cast<pid_t>(parsed->pid) : 0;
    auto reply = c->call(ipc::Request::stop(), k_request_timeout);
    if (!reply) return std::unexpected(reply.error());
    auto gone = [&] { return pid > 0 ? ::kill(pid, 0) != 0 : !query_status(socket, 100ms); };
    auto wait_gone = [&](std::chrono::milliseconds within) {
        auto deadline = Clock::now() + within;
        while (Clock::now() < deadline) {
            if (gone()) return true;
            std::this_thread::sleep_for(k_stop_poll);
        }
        return gone();
    };
    if (wait_gone(std::min(timeout, k_stop_grace))) return ok();
    if (pid > 0 && ::kill(pid, SIGKILL) == 0 && wait_gone(k_kill_wait)) return ok();
    return fail(ErrorKind::timeout, "the daemon did not stop within " + std::to_string(timeout.count()) + " ms");
}

} // namespace kache::daemon
