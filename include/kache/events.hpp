// kache/events.hpp — the per-invocation event log, read by `stats`, `report`
// and `monitor`.
//
// One JSON object per line in <cache>/events/events.jsonl, appended with a
// single write(2) in O_APPEND mode, so concurrent wrappers never interleave:
//   {"ts_ms":..,"pid":..,"crate":"serde","outcome":"hit","source":"local",
//    "wrapper_us":..,"compile_us":..,"saved_ms":..,"bytes":..,"reason":"",
//    "session":"4711","start_us":..,"key":"<32 hex>","miss_reason":""}
// Fields are only ever added: a line written by an older kache (without the
// last four) still reads, with those left empty or 0.
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
    std::string reason;           // why a passthrough or an error; on a miss, why it was not recorded
    std::string session;          // the build session: the pid of the cargo process that ran the wrapper
    std::int64_t start_us = 0;    // wall-clock time the wrapper started (µs since the epoch)
    std::string key;              // hex of the entry's K2 (a hit, a recorded miss), else of K1
    std::string miss_reason;      // for misses, decided at lookup: new, inputs changed, remote unavailable...

    // When the unit began and how long it took, in µs; for lines without
    // start_us, derived from ts_ms (its end).
    std::int64_t begin_us() const;
    std::int64_t duration_us() const;
};

// A longer unit is taken to be a corrupt line (durations are clamped to it).
inline constexpr std::int64_t k_max_unit_us = 7ll * 24 * 3600 * 1000000;
// Times past this (the year 2286) are taken to be corrupt.
inline constexpr std::int64_t k_max_time_us = 10'000'000'000'000'000;

// Cheap reasons of a miss, decided at lookup (Event::miss_reason).
inline constexpr std::string_view k_miss_new = "new";                      // no manifest for this K1
inline constexpr std::string_view k_miss_inputs_changed = "inputs changed"; // K1 known, no input set matched
inline constexpr std::string_view k_miss_remote_unavailable = "remote unavailable";
inline constexpr std::string_view k_miss_manifest_corrupt = "manifest corrupt";
inline constexpr std::string_view k_miss_entry_unreadable = "entry unreadable"; // its input set matched
inline constexpr std::string_view k_miss_restore_failed = "restore failed";     // a blob missing or corrupt

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
