// kache/events.hpp — the per-invocation event log, read by `stats`, `report`
// and `monitor`.
//
// One JSON object per line in <cache>/events/events.jsonl, appended with a
// single write(2) in O_APPEND mode, so concurrent wrappers never interleave:
//   {"ts_ms":..,"pid":..,"crate":"serde","outcome":"hit","source":"local",
//    "wrapper_us":..,"compile_us":..,"saved_ms":..,"bytes":..,"reason":""}
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::events {

struct Event {
    std::int64_t ts_ms = 0;
    std::int64_t pid = 0;
    std::string crate;
    std::string outcome;          // hit, miss, passthrough, error
    std::string source;           // for hits: local, prefetched, remote
    std::int64_t wrapper_us = 0;  // time spent in kache itself (outside the compiler)
    std::int64_t compile_us = 0;  // time the real compiler ran
    std::int64_t saved_ms = 0;    // for hits: the recorded compile time
    std::uint64_t bytes = 0;      // bytes restored or recorded
    std::string reason;           // why a passthrough or an error
};

// Appends one event (best effort: a failure to log never affects the build).
void append(const std::filesystem::path& events_dir, const Event& e);

// Reads every event of the log (rotated files first). Malformed lines are skipped.
std::vector<Event> read_all(const std::filesystem::path& events_dir);

// Removes the log (`kache stats --zero`).
void clear(const std::filesystem::path& events_dir);

// One event as its JSON line (without the newline) and back.
std::string to_json(const Event& e);
std::optional<Event> from_json(std::string_view line);

struct Summary {
    std::uint64_t hits = 0, misses = 0, passthroughs = 0, errors = 0;
    std::uint64_t local_hits = 0, remote_hits = 0, prefetched_hits = 0;
    std::int64_t time_saved_ms = 0;
    std::uint64_t bytes_restored = 0;
    double hit_rate() const { return hits + misses == 0 ? 0.0 : double(hits) / double(hits + misses); }
};
Summary summarize(const std::vector<Event>& events);

// The log file is rotated when it grows past this; the newest k_keep_rotated
// rotated files are kept, older ones removed.
inline constexpr std::uint64_t k_rotate_bytes = 32ull << 20;
inline constexpr std::size_t k_keep_rotated = 3;

// Removes all but the newest `keep` rotated log files.
void prune_rotated(const std::filesystem::path& events_dir, std::size_t keep = k_keep_rotated);

} // namespace kache::events
