// Remote checks: on a local miss the wrapper asks whether the remote has K1;
// a pool of workers lists the remote's manifests for K1 and imports what is
// there before the answer goes back. One download per key however many
// wrappers ask; "the remote lacks K1" is remembered for a while (negative
// cache); a remote that failed to answer is not asked again for a few seconds.
#pragma once

#include "log.hpp"

#include <kache/hash.hpp>
#include <kache/ipc.hpp>
#include <kache/ipc/server.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace kache::daemon {

struct CheckSettings {
    int workers = 4;
    std::chrono::seconds negative_cache{30};      // how long "the remote lacks K1" is remembered
    std::chrono::seconds remote_down_backoff{10}; // how long checks skip a remote that failed to answer
    remote::PackLimits pack_limits;               // bounds on each pulled pack (PackLimits::for_max_size)
};

class RemoteChecks {
public:
    // Delivers a queued check's reply to every connection that asked (from a worker thread).
    using Answer = std::function<void(const std::vector<ipc::ConnectionId>&, const ipc::CheckReply&)>;

    RemoteChecks(store::Store& store, remote::BackendMaker make_backend, Log& log, CheckSettings settings, Answer answer);
    ~RemoteChecks(); // stops and joins the workers
    RemoteChecks(const RemoteChecks&) = delete;
    RemoteChecks& operator=(const RemoteChecks&) = delete;

    void start();
    // An answer now (negative cache, remote down), or nullopt when the check
    // was queued (or joined one in progress) and is answered through Answer.
    std::optional<ipc::CheckReply> check(ipc::ConnectionId from, const hash::Digest& k1, std::string crate,
                                         std::string version);
    // Lets the workers finish the queued checks and joins them.
    void stop();

    std::uint64_t done() const { return done_; }
    std::uint64_t found() const { return found_; }

private:
    struct Job {
        hash::Digest k1;
        std::string crate, version;
    };
    void worker();
    // The reply while the remote is known to be down (under mu_).
    std::optional<ipc::CheckReply> remote_down_reply() const;
    // Lists and imports what the remote has for job; returns the reply and whether the remote seems down.
    std::pair<ipc::CheckReply, bool> run(remote::RemoteBackend* be, const std::string& backend_error, const Job& job);

    store::Store& store_;
    remote::BackendMaker make_backend_;
    Log& log_;
    CheckSettings settings_;
    Answer answer_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    std::map<hash::Digest, std::vector<ipc::ConnectionId>> waiting_;
    std::map<hash::Digest, std::chrono::steady_clock::time_point> negative_;
    // Set when a listing failed in a way a retry could fix (the remote is down or
    // unreachable): until then checks are answered at once, without asking it.
    std::chrono::steady_clock::time_point remote_down_until_{};
    std::string remote_down_why_;
    bool exit_ = false;
    std::atomic<std::uint64_t> done_{0}, found_{0};
    std::vector<std::thread> workers_;
};

} // namespace kache::daemon
