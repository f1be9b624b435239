#include <kache/util/backoff.hpp>

#include <algorithm>

namespace kache::util {

std::chrono::milliseconds Backoff::ceiling(unsigned n) const noexcept {
    if (n == 0 || base_.count() <= 0 || cap_.count() <= 0) return std::chrono::milliseconds(0);
    // Doubling stops at the cap, so no shift of a large n overflows.
    auto c = base_.count();
    for (unsigned i = 1; i < n && c < cap_.count(); ++i) c *= 2;
    return std::chrono::milliseconds(std::min(c, cap_.count()));
}

std::chrono::milliseconds Backoff::delay(unsigned n, BackoffRng& rng) const {
    auto top = ceiling(n).count();
    if (top <= 0) return std::chrono::milliseconds(0);
    auto low = jitter_ == Jitter::equal ? top / 2 : 0;
    std::uniform_int_distribution<std::chrono::milliseconds::rep> dist(low, top);
    return std::chrono::milliseconds(dist(rng));
}

std::chrono::milliseconds Backoff::delay(unsigned n) const {
    thread_local BackoffRng rng{std::random_device{}()};
    return delay(n, rng);
}

} // namespace kache::util
