// The background scrub: re-reads every blob at a bounded rate and compares its content
// with its name, because the wrapper's restore trusts the stat-keyed hash cache and so
// cannot see bit rot that leaves a blob's size and mtime intact. A corrupt blob is
// removed with every entry that names it (the crates recompile), and logged. Where the
// walk got to is kept in the store, so a restarted daemon carries on instead of starting over.
#pragma once

#include "log.hpp"

#include <kache/store.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace kache::daemon {

// After a full pass over the store, the next one starts this much later.
inline constexpr std::chrono::hours k_scrub_pass_interval{24};
// Where the walk got to is written at most this often (and when the scrub stops).
inline constexpr std::chrono::seconds k_scrub_save_interval{10};
// Each blob costs at least this many bytes of the rate, so tiny blobs cannot turn
// the scrub into a storm of opens.
inline constexpr std::uint64_t k_scrub_min_blob_cost = 16 << 10;

struct ScrubSettings {
    std::uint64_t rate = 0; // bytes a second; 0: the scrub does not run
    std::chrono::seconds pass_interval = k_scrub_pass_interval;
};

class Scrubber {
public:
    Scrubber(store::Store& store, Log& log, ScrubSettings settings);
    ~Scrubber(); // stops and joins
    Scrubber(const Scrubber&) = delete;
    Scrubber& operator=(const Scrubber&) = delete;

    // Starts the walk on its own thread (nothing when the rate is 0).
    void start();
    // Saves where the walk got to and joins the thread; returns within one read chunk.
    void stop();

    std::uint64_t blobs_checked() const { return checked_; }
    std::uint64_t corrupt_found() const { return corrupt_; }

private:
    void run();
    // Waits up to d, or until stop(); false when stopping.
    bool pause(std::chrono::steady_clock::duration d);
    // Charges bytes against the rate, waiting as needed; false when stopping.
    bool pace(std::uint64_t bytes);
    void scrub_one(const hash::Digest& d);
    void save(const std::string& text);

    store::Store& store_;
    Log& log_;
    ScrubSettings settings_;
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stopping_ = false;
    std::chrono::steady_clock::time_point window_start_;
    std::uint64_t window_bytes_ = 0;
    std::atomic<std::uint64_t> checked_{0};
    std::atomic<std::uint64_t> corrupt_{0};
};

} // namespace kache::daemon
