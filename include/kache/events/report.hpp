// kache/events/report.hpp — `kache report`: the event log grouped by build
// session and by crate, and rendered as text, JSON (schema kache-report-1,
// docs/report.md), Markdown, GitHub step summary or a Chrome/Perfetto trace.
//
//   auto r = events::build_report(events::read_all(dir), since_us);
//   std::string out = events::render(r, events::Format::text, /*top=*/20);
#pragma once

#include <kache/events.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::events {

// The version of the JSON the report writes; bumped when a field changes meaning or goes.
inline constexpr std::string_view k_report_schema = "kache-report-1";

// Units of one cargo process further apart than this belong to two sessions
// (its pid was reused); lines without a session (older kache) use the shorter gap.
inline constexpr std::int64_t k_session_gap_us = 3600ll * 1000000;
inline constexpr std::int64_t k_unknown_session_gap_us = 300ll * 1000000;

// Counts and times of a set of units.
struct Tally {
    std::uint64_t units = 0, hits = 0, local_hits = 0, prefetched_hits = 0, remote_hits = 0;
    std::uint64_t misses = 0, passthroughs = 0, errors = 0;
    std::int64_t compile_us = 0; // the real compiler's time
    std::int64_t wrapper_us = 0; // kache's own time
    std::int64_t saved_ms = 0;   // for hits: the compile time they saved
    std::uint64_t bytes_restored = 0, bytes_recorded = 0;
    std::map<std::string, std::uint64_t> miss_reasons; // "new" -> 3 ("" when not told)

    void add(const Event& e);
    // What these units would cost without the cache (compile time + time saved):
    // the order of the per-crate rows.
    std::int64_t cost_us() const { return compile_us + saved_ms * 1000; }
    double hit_rate() const { return hits + misses == 0 ? 0.0 : double(hits) / double(hits + misses); }
};

struct CrateRow {
    std::string crate;
    Tally tally;
};

// One build session: the units one cargo process ran.
struct Session {
    std::string id;        // "<cargo pid>@<start ms>", or "?@<start ms>" for lines without a session
    std::string cargo_pid; // Event::session ("" when not recorded)
    std::int64_t begin_us = 0, end_us = 0;
    Tally tally;
    std::vector<CrateRow> crates; // most costly first
    std::vector<Event> units;     // by start time
};

struct Report {
    std::int64_t since_us = 0;      // 0: the whole log
    std::vector<Session> sessions;  // oldest first
    Tally tally;
    std::vector<CrateRow> crates;   // over all sessions, most costly first
};

// Groups events into sessions and crates; keeps only the units that ended at
// or after since_us (0 keeps all).
Report build_report(std::vector<Event> events, std::int64_t since_us = 0);

// For units sorted by start time: a track (1, 2, ...) per unit such that two
// units that overlap in time never share one, using as few tracks as it can.
std::vector<int> assign_tracks(const std::vector<Event>& units);

enum class Format { text, json, markdown, github, trace };
std::optional<Format> parse_format(std::string_view name);

// The report in a format; top limits the per-crate rows (0: all).
std::string render(const Report& r, Format f, std::size_t top);
std::string render_text(const Report& r, std::size_t top);
std::string render_json(const Report& r, std::size_t top);
std::string render_markdown(const Report& r, std::size_t top, bool github);
std::string render_trace(const Report& r);

// Helpers shared by the renderers.
std::string printable(std::string_view s);           // control characters as '?'
std::string seconds_text(std::int64_t us);           // "12.3 s"
std::string local_time_text(std::int64_t unix_us);   // "2026-12-06 11:55:20"
std::string reasons_text(const Tally& t);            // "new 3, inputs changed 1"

} // namespace kache::events
