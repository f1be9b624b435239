// kache/size_cap.hpp — the store's size cap without a daemon: a cheap size counter
// that every record adds to and every GC re-syncs, and the trim that a miss starts
// (in a detached `kache gc --if-over-cap`) when the counter passes max_size.
#pragma once

#include <kache/error.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>

namespace kache::store {

// A trim brings the store down to this share of max_size, so that the misses right
// after it do not start another one each.
inline constexpr std::uint64_t k_trim_target_percent = 90;
// Passes a trim makes at most while records keep pushing the store over the cap.
inline constexpr int k_max_trim_passes = 3;
// The counter file holds one decimal number; anything longer is not one.
inline constexpr std::size_t k_max_counter_chars = 24;

std::filesystem::path size_counter_path(const Store& s);
// Held by whoever trims, so that at most one trim runs at a time.
std::filesystem::path trim_lock_path(const Store& s);

// The counter's value; nullopt when missing or malformed (a GC re-syncs it).
std::optional<std::uint64_t> read_size_counter(const Store& s);
// Adds bytes under the counter's lock; the new value, or nullopt when the counter
// was missing or malformed (then it is left for a GC to re-sync).
std::optional<std::uint64_t> add_to_size_counter(const Store& s, std::uint64_t bytes);
// Starts the counter of a new store at 0 (an existing counter is left alone).
void init_size_counter(const Store& s);
// Sets the counter to what the store holds now (GC calls it).
void set_size_counter(const Store& s, std::uint64_t bytes);

// True while some process holds the trim lock. One open and one flock.
bool trim_running(const Store& s);

// What trim_if_over_cap did.
enum class TrimOutcome { under_cap, trimmed, busy };

// When the counter says the store is over max_bytes (or cannot tell), runs GC down to
// k_trim_target_percent of it under the trim lock, again while records push it over
// (k_max_trim_passes at most). busy when another trim holds the lock.
Result<TrimOutcome> trim_if_over_cap(Store& s, std::uint64_t max_bytes);

} // namespace kache::store
