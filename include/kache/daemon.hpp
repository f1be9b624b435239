// kache/daemon.hpp — kached's duties as library classes, so an embedding
// program can run the same daemon: the upload queue, remote checks, prefetch
// of a build session's dependency graph, periodic GC, and its lifecycle.
//
//   auto opt = kache::daemon::Options::from(kache::config::load());
//   kache::daemon::Daemon d(std::move(*opt));
//   auto status = d.run();        // serves until stopped, idle, or SIGTERM
//
// The systemd user unit is in kache/daemon/service.hpp; the protocol in kache/ipc.hpp.
#pragma once

#include <kache/config.hpp>
#include <kache/error.hpp>
#include <kache/ipc.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kache::daemon {

// How often the daemon checks its idle timeout, its binary and its rescan/GC schedule.
inline constexpr std::chrono::milliseconds k_tick_interval{1000};

struct Options {
    config::Config config;
    std::filesystem::path socket;           // resolved socket path
    std::filesystem::path log_file;         // "<socket dir>/kached.log"
    std::filesystem::path watch_binary;     // restart when this file gets newer ("" = never)
    std::vector<std::string> restart_argv;  // how to exec ourselves again
    int upload_workers = 4;
    int check_workers = 4;
    std::chrono::seconds gc_interval{600};
    std::chrono::seconds negative_cache{30};    // how long "the remote lacks K1" is remembered
    std::chrono::seconds remote_down_backoff{10}; // how long checks skip a remote that failed to answer
    std::chrono::seconds drain_timeout{30};     // how long stop waits for in-flight uploads
    std::chrono::seconds intent_rescan{60};     // how often upload-queue/ is read again for lost intents
    std::chrono::seconds parked_retry{600};     // how long an intent that failed for good waits to be retried
    int prefetch_workers = 6;                   // parallel transfers while prefetching
    std::size_t prefetch_max_entries = 5000;
    std::uint64_t prefetch_max_bytes = 8ull << 30;
    std::chrono::seconds prefetch_max_time{300};

    // Fills the paths from a configuration.
    static Result<Options> from(const config::Config& cfg);
    // from(), plus what the running kached needs: restart by exec'ing this
    // executable with "run", when the kache binary beside it (or in the build
    // tree) changes.
    static Result<Options> for_this_executable(const config::Config& cfg);
};

class Daemon {
public:
    explicit Daemon(Options options);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    // Serves until a stop request, SIGTERM/SIGINT, the idle timeout, or a
    // restart; then returns the process exit status (0 also when another daemon
    // already owns the socket). On a restart it execs restart_argv. An error
    // when it cannot start (store, socket directory, lock, listen).
    Result<int> run();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// ---- lifecycle, as `kache daemon ...` uses it ----

// Asks the daemon at socket for its status; ErrorKind::not_found if none answers.
Result<ipc::StatusReply> query_status(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

// The status when no daemon answers: what the store on disk says.
ipc::StatusReply status_without_daemon(const Options& options);

// Starts `argv` (kached run ...) detached in the background and waits until the
// socket answers or timeout passes. Succeeds at once if a daemon already answers.
// Returns the daemon's pid.
Result<int> start_background(const std::filesystem::path& socket, const std::vector<std::string>& argv,
                             const std::filesystem::path& log_file, std::chrono::milliseconds timeout);

// Asks the daemon to stop (it drains in-flight uploads first) and waits until it is gone.
Result<void> stop(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

// The workspace's Cargo.lock: in start or the nearest parent that has one.
std::optional<std::filesystem::path> find_cargo_lock(const std::filesystem::path& start);

} // namespace kache::daemon
