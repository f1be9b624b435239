// kache/events/live.hpp — following the event log as a build runs (`kache monitor`).
//
// LogFollower reads what was appended to <cache>/events/events.jsonl since its
// last poll, bounded per poll, across rotations; LiveView keeps the counts of the
// current window (a build session, or the last DUR) and the slowest units.
#pragma once

#include <kache/events.hpp>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace kache::events {

// The most a poll reads: a monitor never holds more of a huge log than this.
inline constexpr std::size_t k_follow_read_limit = 4u << 20;
// The longest line taken; a longer one (not ours) is skipped whole.
inline constexpr std::size_t k_follow_line_limit = 64u << 10;
// A pause this long between events starts a new build session.
inline constexpr std::int64_t k_session_gap_ms = 30'000;
// The units-per-second figure counts the events of this last stretch.
inline constexpr std::int64_t k_rate_window_ms = 5'000;
// How many of the slowest units the view keeps.
inline constexpr std::size_t k_slowest_kept = 5;
// The most events a view holds (the oldest go first): about 20 MiB.
inline constexpr std::size_t k_view_max_events = 100'000;

class LogFollower {
public:
    // Follows dir/events.jsonl from its current end (from_start: from its beginning).
    explicit LogFollower(std::filesystem::path dir, bool from_start = false);

    // The complete lines appended since the last poll, parsed (malformed ones skipped).
    // When the file was rotated, the rest of the old file is read first.
    std::vector<Event> poll();

private:
    void reopen(bool at_end);
    void read_from(int fd, std::vector<Event>& out, std::size_t& budget);

    std::filesystem::path file_;
    int fd_ = -1;
    std::uint64_t inode_ = 0;
    std::string partial_;  // an incomplete last line, kept until its newline comes
    bool skipping_ = false; // inside an overlong line

public:
    LogFollower(const LogFollower&) = delete;
    LogFollower& operator=(const LogFollower&) = delete;
    ~LogFollower();
};

struct LiveSnapshot {
    Summary counts;                 // of the window
    std::uint64_t units = 0;        // every event of the window
    std::int64_t first_ms = 0, last_ms = 0;
    double rate_now = 0;            // units per second over the last k_rate_window_ms
    std::vector<Event> slowest;     // by compile plus wrapper time, longest first
};

class LiveView {
public:
    // since_ms > 0: the window is the last since_ms; 0: the current build session
    // (the events after the last pause of k_session_gap_ms or more).
    explicit LiveView(std::int64_t since_ms = 0) : since_ms_(since_ms) {}

    void add(const Event& e);
    LiveSnapshot snapshot(std::int64_t now_ms) const;

private:
    std::int64_t since_ms_;
    std::deque<Event> events_;  // the window's events (older ones dropped as it moves)
};

} // namespace kache::events
