#include "upload_queue.hpp"

#include <kache/remote/transfer.hpp>
#include <kache/util/backoff.hpp>

#include <algorithm>

namespace kache::daemon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hash::Digest;

std::chrono::milliseconds retry_delay(int attempt, std::chrono::milliseconds base, std::chrono::milliseconds cap_max,
                                      std::mt19937& rng) {
    // Backoff's ceiling for retry n is base' * 2^(n-1): base' = 2 * base gives base * 2^n.
    const util::Backoff backoff(base * 2, cap_max, util::Jitter::equal);
    return backoff.delay(static_cast<unsigned>(std::max(attempt, 0)), rng);
}

Result<void> push_entry(store::Store& store, remote::RemoteBackend& be, const Digest& k2) {
    auto pushed = remote::push_entry(store, be, k2);
    if (!pushed) return std::unexpected(pushed.error());
    return ok(); // pushed, or nothing consistent left to push
}

UploadQueue::UploadQueue(store::Store& store, remote::BackendMaker make_backend, Log& log, UploadSettings settings)
    : store_(store), make_backend_(std::move(make_backend)), log_(log), settings_(settings) {}

UploadQueue::~UploadQueue() { stop(); }

void UploadQueue::start() {
    // The daemon queues the intents on disk before this (written while none ran, or left by
    // a killed one); what cannot be an intent goes now, not at the first periodic rescan.
    drop_unparseable();
    for (int i = 0; i < settings_.workers; ++i) workers_.emplace_back([this] { worker(); });
}

void UploadQueue::enqueue(const Digest& k2) {
    std::lock_guard g(mu_);
    if (queued_.insert(k2).second) queue_.push_back(k2);
    cv_.notify_one();
}

void UploadQueue::promote_due_retries() {
    auto now = Clock::now();
    while (!retries_.empty() && retries_.begin()->first <= now) {
        auto [d, n] = retries_.begin()->second;
        retries_.erase(retries_.begin());
        attempts_[d] = n;
        if (queued_.insert(d).second) queue_.push_back(d);
    }
}

void UploadQueue::worker() {
    std::unique_ptr<remote::RemoteBackend> be;
    std::mt19937 rng{std::random_device{}()};
    while (true) {
        Digest k2;
        {
            std::unique_lock lk(mu_);
            while (true) {
                // Stopping: what is still queued keeps its intent for the next start.
                if (exit_) return;
                promote_due_retries();
                if (!queue_.empty()) break;
                cv_.wait_for(lk, k_upload_poll);
            }
            k2 = queue_.front();
            queue_.pop_front();
            ++in_flight_;
        }
        Result<void> r = ok();
        if (!be) {
            auto b = make_backend_();
            if (!b) r = std::unexpected(b.error());
            else be = std::move(*b);
        }
        if (r) r = push_entry(store_, *be, k2);
        std::unique_lock lk(mu_);
        --in_flight_;
        queued_.erase(k2);
        if (r) {
            store_.remove_upload_intent(k2); // under mu_: a rescan lists intents under it too
            attempts_.erase(k2);
            ++uploaded_;
            log_.info("uploaded " + k2.hex());
        } else {
            ++failures_;
            int n = attempts_[k2] + 1;
            lk.unlock();
            log_.error("upload of " + k2.hex() + " failed (attempt " + std::to_string(n) + "): " + r.error().message);
            lk.lock();
            if (r.error().retryable() && n < settings_.max_attempts) {
                auto delay = retry_delay(n, settings_.retry_base, settings_.retry_cap, rng);
                retries_.emplace(Clock::now() + delay, std::make_pair(k2, n));
            } else {
                attempts_.erase(k2); // the intent stays on disk: a later rescan or the next start tries again
                parked_[k2] = Clock::now();
            }
        }
        cv_.notify_all();
    }
}

void UploadQueue::drop_unparseable() {
    // An intent that does not parse never will (intents are written whole by rename).
    for (auto& bad : store_.remove_unparseable_intents()) log_.warn("removed an unparseable upload intent: " + bad);
}

std::size_t UploadQueue::rescan() {
    drop_unparseable();
    std::lock_guard g(mu_); // while listing too: a worker removes an intent under it when done
    auto on_disk = store_.upload_intents();
    std::set<Digest> retrying;
    for (auto& [_, v] : retries_) retrying.insert(v.first);
    auto now = Clock::now();
    std::size_t n = 0;
    for (auto& d : on_disk) {
        if (queued_.count(d) || retrying.count(d)) continue;
        if (auto it = parked_.find(d); it != parked_.end()) {
            if (now - it->second < settings_.parked_retry) continue;
            parked_.erase(it);
        }
        queued_.insert(d);
        queue_.push_back(d);
        ++n;
    }
    if (n) {
        log_.info("rescan: queued " + std::to_string(n) + " upload intents found on disk");
        cv_.notify_all();
    }
    return n;
}

bool UploadQueue::drain(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    std::unique_lock lk(mu_);
    while ((!queue_.empty() || in_flight_ > 0) && Clock::now() < deadline) cv_.wait_for(lk, std::chrono::milliseconds(100));
    return queue_.empty() && in_flight_ == 0;
}

void UploadQueue::stop() {
    {
        std::lock_guard g(mu_);
        exit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

UploadStats UploadQueue::stats() const {
    std::lock_guard g(mu_);
    UploadStats s;
    s.queued = queue_.size();
    s.in_flight = in_flight_;
    s.retrying = retries_.size();
    s.parked = parked_.size();
    s.uploaded = uploaded_;
    s.failures = failures_;
    return s;
}

bool UploadQueue::idle() const {
    std::lock_guard g(mu_);
    return queue_.empty() && in_flight_ == 0;
}

} // namespace kache::daemon
