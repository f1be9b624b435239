// kache/util/backoff.hpp — how long to wait before retrying a failed operation.
//
//   util::Backoff b;                          // base 100 ms, cap 5 s, full jitter
//   std::this_thread::sleep_for(b.delay(attempt));
//
// Retry n (1-based) waits a random time below ceiling(n) = min(cap, base * 2^(n-1)): the
// randomness spreads the retries of many workers instead of sending them in waves.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <utility>

namespace kache::util {

// The first retry's ceiling, and the most any retry waits, unless the caller says otherwise.
inline constexpr std::chrono::milliseconds k_backoff_base{100};
inline constexpr std::chrono::milliseconds k_backoff_cap{5'000};

// Where in [0, ceiling] the delay falls.
enum class Jitter {
    full,  // uniform in [0, ceiling]: the widest spread
    equal, // uniform in [ceiling/2, ceiling]: never retries much sooner than the ceiling says
};

// The generator delay(n) uses per thread; any other standard generator can be passed.
using BackoffRng = std::mt19937_64;

class Backoff {
public:
    constexpr Backoff() = default;
    constexpr Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, Jitter jitter = Jitter::full)
        : base_(base), cap_(cap), jitter_(jitter) {}

    // min(cap, base * 2^(n-1)) for retry n >= 1 (no overflow for any n); zero for n == 0
    // or a non-positive base or cap.
    std::chrono::milliseconds ceiling(unsigned n) const noexcept;
    // The delays retry n may wait: [0, ceiling(n)] with full jitter, [ceiling(n)/2,
    // ceiling(n)] with equal jitter.
    std::pair<std::chrono::milliseconds, std::chrono::milliseconds> range(unsigned n) const noexcept;
    // A random delay for retry n in range(n), drawn from rng (any standard generator:
    // seed it for reproducible delays).
    template <std::uniform_random_bit_generator Rng>
    std::chrono::milliseconds delay(unsigned n, Rng& rng) const {
        auto [low, high] = range(n);
        if (high.count() <= 0) return std::chrono::milliseconds(0);
        return std::chrono::milliseconds(
            std::uniform_int_distribution<std::chrono::milliseconds::rep>(low.count(), high.count())(rng));
    }
    // The same from a per-thread BackoffRng seeded from std::random_device.
    std::chrono::milliseconds delay(unsigned n) const;

    std::chrono::milliseconds base() const noexcept { return base_; }
    std::chrono::milliseconds cap() const noexcept { return cap_; }
    Jitter jitter() const noexcept { return jitter_; }

private:
    std::chrono::milliseconds base_ = k_backoff_base;
    std::chrono::milliseconds cap_ = k_backoff_cap;
    Jitter jitter_ = Jitter::full;
};

} // namespace kache::util
