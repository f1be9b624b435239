// The process-wide transfer cancellation flag, and a sleep it interrupts.
#include <kache/remote/cancel.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace kache::remote {

namespace {

std::atomic<bool> g_cancelled{false};
std::mutex g_mu;
std::condition_variable g_cv;

} // namespace

void cancel_transfers() noexcept {
    {
        std::lock_guard g(g_mu); // so a sleeper between its check and its wait cannot miss the wake-up
        g_cancelled = true;
    }
    g_cv.notify_all();
}

void allow_transfers() noexcept { g_cancelled = false; }

bool transfers_cancelled() noexcept { return g_cancelled.load(std::memory_order_relaxed); }

bool sleep_unless_cancelled(std::chrono::milliseconds d) {
    std::unique_lock lk(g_mu);
    return !g_cv.wait_for(lk, d, [] { return g_cancelled.load(); });
}

} // namespace kache::remote
