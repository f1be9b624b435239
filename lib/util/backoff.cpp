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

std::pair<std::chrono::milliseconds, std::chrono::milliseconds> Backoff::range(unsigned n) const noexcept {
    auto top = ceiling(n);
    return {jitter_ == Jitter::equal ? top / 2 : std::chrono::milliseconds(0), top};
}

std::chrono::milliseconds Backoff::delay(unsigned n) const {
    thread_local BackoffRng rng{std::random_device{}()};
    return delay(n, rng);
}

} // namespace kache::util
