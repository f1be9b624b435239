// What the wrapper tells the daemon: a session began, check the remote for a
// key, upload an entry; and starting a daemon when none answers. Never waits
// long, and a missing daemon never fails the build.
#include "context.hpp"

#include <kache/ipc.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>

namespace kache::wrapper {

namespace {

// A session marker older than this means a new build session.
inline constexpr std::int64_t k_session_ns = 5ll * 60 * 1000000000;
// At most one daemon start per this many seconds.
inline constexpr std::time_t k_spawn_interval_s = 10;
inline constexpr std::chrono::milliseconds k_session_connect_timeout{20};
inline constexpr std::chrono::milliseconds k_session_send_timeout{20};
inline constexpr std::chrono::milliseconds k_connect_timeout{50};
inline constexpr std::chrono::milliseconds k_upload_send_timeout{50};

bool remote_enabled(const config::Config& cfg) { return cfg.remote.configured(); }

// Starts `<this executable> daemon start` fully detached, holding none of our descriptors.
void start_daemon_detached() {
    auto self = util::self_exe();
    if (!self) return;
    (void)util::spawn_detached({self->string(), "daemon", "start"});
}

// Starts a daemon, at most once every k_spawn_interval_s (a marker file's mtime).
void spawn_daemon(const config::Config& cfg) {
    fs::path marker = cfg.cache_dir / "daemon.spawned";
    struct stat st {};
    if (::stat(marker.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtim.tv_sec < k_spawn_interval_s) return;
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
    if (fd >= 0) ::close(fd);
    (void)util::touch_now(marker);
    start_daemon_detached();
}

// A plain rustc (not clippy-driver, whose identity also needs its own -V).
bool is_plain_rustc(const std::string& compiler) {
    std::string base = fs::path(compiler).filename().string();
    return (base == "rustc" || base.starts_with("rustc-") || base.ends_with("-rustc")) &&
           base.find("clippy") == std::string::npos;
}

// The first wrapper of a session (cargo's own `rustc -vV`) makes the toolchain record
// in a detached process while cargo goes on: in an empty store (a new machine, a CI
// runner: the remote-warm build) the first compiles would otherwise each run
// `rustc -vV` and `rustc --print sysroot` before their look-up, and wait for them.
// The process has this wrapper's environment and working directory, so it records
// exactly what the compile wrappers would compute; a record they cannot use (another
// build session, for a rustup proxy) they ignore and probe again. Double-forked and
// holding none of cargo's pipes, so cargo never waits for it.
void warm_toolchain(const config::Config& cfg, const std::string& compiler) {
    if (!is_plain_rustc(compiler)) return;
    pid_t child = ::fork();
    if (child < 0) return;
    if (child > 0) {
        while (::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
        }
        return;
    }
    // The wrapper is single-threaded: the child may allocate.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
    }
    ::close_range(3, ~0U, 0);
    if (auto store = store::Store::open(cfg.cache_dir))
        (void)key::toolchain_identity({compiler}, store->toolchain_dir(), store->tmp_dir());
    ::_exit(0);
}

} // namespace

// A build-session marker older than five minutes (or missing) means a new
// session: hint the daemon so it prefetches the dependency graph. Costs one
// stat per invocation; never waits for the daemon. When no daemon takes the
// hint, the marker is removed (the next invocation tries again) and a daemon
// is started, so a session that begins without one still gets its prefetch.
void hint_session(const config::Config& cfg, const std::string& compiler) {
    if (!remote_enabled(cfg) || !cfg.prefetch) return;
    fs::path marker = cfg.cache_dir / "session";
    struct stat st {};
    std::int64_t now = util::now_ns();
    if (::stat(marker.c_str(), &st) == 0 &&
        now - (static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec) < k_session_ns)
        return;
    char buf[4096];
    if (!::getcwd(buf, sizeof buf)) return;
    // Marked before telling, so that the wrappers cargo starts alongside this
    // one do not send the same hint again.
    int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
    if (fd < 0) return;
    ::close(fd);
    (void)util::touch_now(marker);
    warm_toolchain(cfg, compiler);
    auto client = ipc::Client::connect(cfg.effective_socket_path(), k_session_connect_timeout);
    if (client && client->send(ipc::Request::session(buf), k_session_send_timeout)) return;
    ::unlink(marker.c_str());
    spawn_daemon(cfg);
}

bool request_remote_check(const Context& c) {
    if (!remote_enabled(c.cfg)) return false;
    c.remote_unavailable = true; // until the daemon answers
    auto client = ipc::Client::connect(c.cfg.effective_socket_path(), k_connect_timeout);
    if (!client) return false; // no daemon: logged nowhere, the build carries on
    auto request =
        ipc::Request::check(c.k1.hex(), c.package_name(), util::env("CARGO_PKG_VERSION").value_or(""));
    auto reply = client->call(request, c.cfg.remote_check_timeout);
    if (!reply) return false;
    auto check = ipc::CheckReply::from(*reply);
    c.remote_unavailable = !check || !check->ok;
    return check && check->ok && check->found > 0;
}

void notify_upload(const Context& c, const hash::Digest& k2) {
    if (!remote_enabled(c.cfg) || c.cfg.remote.read_only) return;
    if (!c.store->add_upload_intent(k2)) return;
    auto client = ipc::Client::connect(c.cfg.effective_socket_path(), k_connect_timeout);
    if (client) {
        (void)client->send(ipc::Request::upload(k2.hex()), k_upload_send_timeout);
        return;
    }
    spawn_daemon(c.cfg);
}

} // namespace kache::wrapper
