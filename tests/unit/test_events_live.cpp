// kache::events live view: following the log across appends, torn lines and
// rotation, with bounded reads; the window, session gaps, rate and slowest units.
#include <kache/events/live.hpp>

#include "core_test_support.hpp"

#include <fstream>

using namespace kache;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

events::Event ev(std::int64_t ts, const std::string& crate, const std::string& outcome, std::int64_t compile_us = 0,
                 const std::string& source = "") {
    events::Event e;
    e.ts_ms = ts;
    e.pid = 1;
    e.crate = crate;
    e.outcome = outcome;
    e.source = source;
    e.compile_us = compile_us;
    return e;
}

void append_raw(const fs::path& file, const std::string& text) {
    std::ofstream(file, std::ios::app | std::ios::binary) << text;
}

} // namespace

TEST_CASE("a follower returns only what was appended since its last poll") {
    TempDir dir;
    events::append(dir.path(), ev(1, "before", "miss"));
    events::LogFollower from_end(dir.path());
    events::LogFollower from_start(dir.path(), /*from_start=*/true);
    CHECK(from_end.poll().empty());
    auto all = from_start.poll();
    REQUIRE(all.size() == 1);
    CHECK(all[0].crate == "before");

    events::append(dir.path(), ev(2, "a", "hit", 0, "local"));
    events::append(dir.path(), ev(3, "b", "miss"));
    auto got = from_end.poll();
    REQUIRE(got.size() == 2);
    CHECK(got[0].crate == "a");
    CHECK(got[1].crate == "b");
    CHECK(from_end.poll().empty());
    CHECK(from_start.poll().size() == 2);
}

TEST_CASE("a line is taken only once its newline is written, and malformed lines are skipped") {
    TempDir dir;
    fs::path file = dir.path() / "events.jsonl";
    append_raw(file, "");
    events::LogFollower f(dir.path());
    std::string line = events::to_json(ev(5, "torn", "miss"));
    append_raw(file, line.substr(0, 10));
    CHECK(f.poll().empty());
    append_raw(file, line.substr(10) + "\n{not json}\n\n");
    auto got = f.poll();
    REQUIRE(got.size() == 1);
    CHECK(got[0].crate == "torn");
}

TEST_CASE("an overlong line is skipped whole and the next line is read") {
    TempDir dir;
    fs::path file = dir.path() / "events.jsonl";
    append_raw(file, "");
    events::LogFollower f(dir.path());
    append_raw(file, std::string(events::k_follow_line_limit + 10, 'x') + "\n" + events::to_json(ev(6, "after", "miss")) + "\n");
    auto got = f.poll();
    REQUIRE(got.size() == 1);
    CHECK(got[0].crate == "after");
}

TEST_CASE("a rotated log is finished before the new one is followed") {
    TempDir dir;
    fs::path file = dir.path() / "events.jsonl";
    events::append(dir.path(), ev(1, "old", "miss"));
    events::LogFollower f(dir.path());
    events::append(dir.path(), ev(2, "old-tail", "miss"));
    fs::rename(file, dir.path() / "events-1.jsonl");
    events::append(dir.path(), ev(3, "new", "miss"));
    auto got = f.poll();
    REQUIRE(got.size() == 2);
    CHECK(got[0].crate == "old-tail");
    CHECK(got[1].crate == "new");
}

TEST_CASE("a poll reads at most its limit; the rest comes with the next polls") {
    TempDir dir;
    fs::path file = dir.path() / "events.jsonl";
    append_raw(file, "");
    events::LogFollower f(dir.path());
    std::string many;
    std::size_t n = 0;
    while (many.size() < events::k_follow_read_limit + 100'000) {
        many += events::to_json(ev(static_cast<std::int64_t>(n), "c" + std::to_string(n), "miss")) + "\n";
        ++n;
    }
    append_raw(file, many);
    auto first = f.poll();
    CHECK(first.size() < n);
    std::size_t total = first.size();
    for (auto more = f.poll(); !more.empty(); more = f.poll()) total += more.size();
    CHECK(total == n);
}

TEST_CASE("the session view starts again after a pause and counts its own events") {
    events::LiveView view;
    view.add(ev(1'000, "earlier", "miss", 9'000'000));
    std::int64_t t = 1'000 + events::k_session_gap_ms + 1;
    view.add(ev(t, "a", "hit", 0, "local"));
    view.add(ev(t + 100, "b", "hit", 0, "remote"));
    view.add(ev(t + 200, "c", "miss", 2'000'000));
    view.add(ev(t + 300, "d", "miss", 1'000'000));
    auto s = view.snapshot(t + 300);
    CHECK(s.units == 4);
    CHECK(s.counts.hits == 2);
    CHECK(s.counts.remote_hits == 1);
    CHECK(s.counts.misses == 2);
    CHECK(s.first_ms == t);
    REQUIRE(s.slowest.size() == 4);
    CHECK(s.slowest[0].crate == "c"); // the earlier session's 9 s unit is gone
    CHECK(s.slowest[1].crate == "d");
    CHECK(s.rate_now > 0);
    CHECK(view.snapshot(t + 300 + events::k_rate_window_ms + 1).rate_now == 0);
}

TEST_CASE("a --since view holds only its window") {
    events::LiveView view(10'000);
    view.add(ev(1'000, "old", "miss"));
    view.add(ev(20'000, "new", "hit", 0, "local"));
    auto s = view.snapshot(20'000);
    CHECK(s.units == 1);
    CHECK(s.counts.hits == 1);
    CHECK(view.snapshot(40'000).units == 0);
}
