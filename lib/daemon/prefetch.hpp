// Prefetch: when a build session starts, import what the remote has for the
// workspace's dependency graph, dependencies first, several transfers at once,
// within limits of entries, bytes and time.
#pragma once

#include "log.hpp"
#include "pulls.hpp"

#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kache::daemon {

struct PrefetchSettings {
    int workers = 6; // parallel transfers while prefetching
    std::size_t max_entries = 5000;
    std::uint64_t max_bytes = 8ull << 30;
    std::chrono::seconds max_time{300};
    remote::PackLimits pack_limits;  // bounds on each pulled pack (PackLimits::for_max_size)
};

// Of the manifest objects listed under one package version, the newest of each
// invocation key (K1), by the listing's last-modified time (the later listed on a tie).
// Objects whose key is not a manifest key are dropped.
std::vector<remote::ObjectInfo> newest_per_invocation(std::vector<remote::ObjectInfo> objects);

class Prefetcher {
public:
    // pulls: shared with the remote checks, so an entry is downloaded once (null: not shared).
    Prefetcher(store::Store& store, remote::BackendMaker make_backend, Log& log, PrefetchSettings settings,
               SharedPulls* pulls = nullptr);
    ~Prefetcher(); // stops and joins
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;

    void start();
    // Queues a session: root is the absolute directory cargo runs in.
    void submit(std::string root);
    // Stops at the next package and joins the worker.
    void stop();

    std::uint64_t prefetched() const { return prefetched_; }

private:
    void worker();
    void prefetch_session(const std::string& root);
    // Imports what the remote has for one package version; returns (entries, bytes).
    std::pair<std::size_t, std::uint64_t> prefetch_package(remote::RemoteBackend& be, const std::string& name,
                                                           const std::string& version);

    store::Store& store_;
    remote::BackendMaker make_backend_;
    Log& log_;
    PrefetchSettings settings_;
    SharedPulls* pulls_;

    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::string> sessions_;
    std::atomic<bool> exit_{false};
    std::atomic<std::uint64_t> prefetched_{0};
    std::thread worker_;
};

} // namespace kache::daemon
