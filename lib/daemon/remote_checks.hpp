// Remote checks: on a local miss the wrapper asks whether the remote has K1;
// a pool of workers lists the remote's manifests for K1 and imports what is
// there before the answer goes back. One download per key however many
// wrappers ask; "the remote lacks K1" is remembered for a while (negative
// cache). A remote that failed to answer, or let one check run past the
// wrapper's deadline (a stall), is "unavailable": every check is answered so at
// once, and waiting wrappers are released, until a background probe (with
// backoff) gets an answer from it again. So a stalled remote costs a build at
// most one deadline, not one per crate.
#pragma once

#include "log.hpp"
#include "pulls.hpp"

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

// The first probe of a remote found unavailable waits about this long; each further one
// twice as long, up to CheckSettings::remote_down_backoff.
inline constexpr std::chrono::milliseconds k_probe_base_delay{250};

// The most entries one remote check pulls, newest first. A K1 is one crate built one way;
// it holds an input set for every version of its sources ever pushed (a workspace member
// built by CI on every commit collects hundreds). The newest are the likeliest to match
// the build asking; pulling all of them would cost more than compiling, and would let
// anyone who can write the remote make each check download without end.
inline constexpr std::size_t k_max_pulls_per_check = 8;

// What a check does with the manifests listed under one K1: those the store already has
// (entry and input set) are counted; of the others, the newest k_max_pulls_per_check are pulled.
struct CheckCandidates {
    std::size_t local = 0;
    std::vector<remote::ObjectInfo> pull; // newest first
};
CheckCandidates check_candidates(const store::Store& store, std::vector<remote::ObjectInfo> objects);

struct CheckSettings {
    int workers = 4;
    std::chrono::seconds negative_cache{30};      // how long "the remote lacks K1" is remembered
    std::chrono::seconds remote_down_backoff{10}; // the longest wait between probes of an unavailable remote
    remote::PackLimits pack_limits;               // bounds on each pulled pack (PackLimits::for_max_size)
    // A check still running after this long (the wrapper's remote-check deadline: its
    // wrapper gave up) makes the remote unavailable. Zero: no stall detection.
    std::chrono::milliseconds deadline{3000};
};

class RemoteChecks {
public:
    // Delivers a queued check's reply to every connection that asked (from a worker thread).
    using Answer = std::function<void(const std::vector<ipc::ConnectionId>&, const ipc::CheckReply&)>;

    // pulls: shared with prefetch, so an entry is downloaded once (null: not shared).
    RemoteChecks(store::Store& store, remote::BackendMaker make_backend, Log& log, CheckSettings settings, Answer answer,
                 SharedPulls* pulls = nullptr);
    ~RemoteChecks(); // stops and joins the workers
    RemoteChecks(const RemoteChecks&) = delete;
    RemoteChecks& operator=(const RemoteChecks&) = delete;

    void start();
    // An answer now (negative cache, remote down), or nullopt when the check
    // was queued (or joined one in progress) and is answered through Answer.
    std::optional<ipc::CheckReply> check(ipc::ConnectionId from, const hash::Digest& k1, std::string crate,
                                         std::string version);
    // Lets the workers answer the queued checks (at once when transfers are cancelled),
    // then joins them and the probe.
    void stop();

    std::uint64_t done() const { return done_; }
    std::uint64_t found() const { return found_; }
    // False while the remote is unavailable (until a probe succeeds).
    bool available() const;

private:
    struct Job {
        hash::Digest k1;
        std::string crate, version;
    };
    void worker();
    // Watches running checks for a stall, and probes an unavailable remote until it answers.
    void monitor();
    // Marks the remote unavailable and answers every waiting wrapper so (under mu_).
    void mark_down(std::string why);
    // The reply while the remote is known to be down (under mu_).
    std::optional<ipc::CheckReply> remote_down_reply() const;
    // Lists and imports what the remote has for job; returns the reply and whether the remote seems down.
    std::pair<ipc::CheckReply, bool> run(remote::RemoteBackend* be, const std::string& backend_error, const Job& job);

    store::Store& store_;
    remote::BackendMaker make_backend_;
    Log& log_;
    CheckSettings settings_;
    Answer answer_;
    SharedPulls* pulls_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<Job> jobs_;
    std::map<hash::Digest, std::vector<ipc::ConnectionId>> waiting_;
    std::map<hash::Digest, std::chrono::steady_clock::time_point> negative_;
    // When each running check started: the monitor's stall detection.
    std::multimap<std::chrono::steady_clock::time_point, hash::Digest> running_;
    // Set when a listing failed in a way a retry could fix, or a check stalled: until a
    // probe gets an answer, checks are answered at once, without asking the remote.
    bool down_ = false;
    std::string remote_down_why_;
    // When the remote last came back: a check started before then cannot mark it down again.
    std::chrono::steady_clock::time_point up_since_{};
    std::condition_variable monitor_cv_;
    std::thread monitor_;
    bool exit_ = false;
    std::atomic<std::uint64_t> done_{0}, found_{0};
    std::vector<std::thread> workers_;
};

} // namespace kache::daemon
