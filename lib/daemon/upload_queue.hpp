// The upload queue: upload intents (written by the wrapper) become pushes of
// the entry's pack and manifest to the remote, by a pool of workers, with
// retries on transient failures. An intent that fails for good is parked and
// retried after a while; a rescan of upload-queue/ picks up intents no
// request announced. The intent file is removed only after a push succeeded.
#pragma once

#include "log.hpp"

#include <kache/hash.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace kache::daemon {

// Attempts per intent before it is parked.
inline constexpr int k_upload_max_attempts = 8;
// The first retry waits about this long; each further one twice as long...
inline constexpr std::chrono::milliseconds k_upload_retry_base{500};
// ...up to this.
inline constexpr std::chrono::milliseconds k_upload_retry_cap{60000};
// How often an idle worker looks for retries that came due.
inline constexpr std::chrono::milliseconds k_upload_poll{500};

struct UploadSettings {
    int workers = 4;
    std::chrono::seconds parked_retry{600}; // how long a parked intent waits before a rescan queues it again
    int max_attempts = k_upload_max_attempts;
    std::chrono::milliseconds retry_base = k_upload_retry_base;
    std::chrono::milliseconds retry_cap = k_upload_retry_cap;
};

struct UploadStats {
    std::size_t queued = 0;     // waiting for a worker
    std::size_t in_flight = 0;  // being pushed
    std::size_t retrying = 0;   // waiting for a retry to come due
    std::size_t parked = 0;     // given up on until parked_retry passes
    std::uint64_t uploaded = 0;
    std::uint64_t failures = 0; // failed attempts
};

// How long attempt n (1 = the first failure) waits: uniform in [cap/2, cap]
// with cap = min(cap_max, base * 2^n) ("equal jitter": never less than half).
std::chrono::milliseconds retry_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap_max,
                                      std::mt19937& rng);

// Pushes the pack and manifest of entry k2; success when there is nothing
// consistent to push (the entry is gone, or its input set was replaced).
Result<void> push_entry(store::Store& store, remote::RemoteBackend& backend, const hash::Digest& k2);

class UploadQueue {
public:
    UploadQueue(store::Store& store, remote::BackendMaker make_backend, Log& log, UploadSettings settings);
    ~UploadQueue(); // stops and joins the workers
    UploadQueue(const UploadQueue&) = delete;
    UploadQueue& operator=(const UploadQueue&) = delete;

    // Starts the workers.
    void start();
    // Queues k2 unless it is queued or in flight already.
    void enqueue(const hash::Digest& k2);
    // Queues every intent on disk that is not queued, in flight, waiting for a
    // retry, or parked for less than parked_retry. Returns how many it queued.
    std::size_t rescan();
    // Waits until nothing is queued or in flight, at most timeout; true if drained.
    bool drain(std::chrono::milliseconds timeout);
    // Lets the workers finish their current push and joins them.
    void stop();

    UploadStats stats() const;
    // Nothing queued and nothing in flight (retries may be waiting).
    bool idle() const;

private:
    void worker();
    // Moves the retries that came due into the queue (under mu_).
    void promote_due_retries();
    void drop_unparseable(); // removes intent files that cannot be one, with a log line each

    store::Store& store_;
    remote::BackendMaker make_backend_;
    Log& log_;
    UploadSettings settings_;

    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::deque<hash::Digest> queue_;
    std::set<hash::Digest> queued_; // queued or in flight
    std::multimap<std::chrono::steady_clock::time_point, std::pair<hash::Digest, int>> retries_;
    std::map<hash::Digest, int> attempts_;
    std::map<hash::Digest, std::chrono::steady_clock::time_point> parked_;
    std::size_t in_flight_ = 0;
    std::uint64_t uploaded_ = 0;
    std::uint64_t failures_ = 0;
    bool exit_ = false;
    std::vector<std::thread> workers_;
};

} // namespace kache::daemon
