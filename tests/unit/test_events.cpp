// kache::events: the JSON line form, concurrent appends, rotation, summaries and clear.
#include <kache/events.hpp>

#include "core_test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <thread>

using namespace kache;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

events::Event make_event(std::int64_t pid, std::int64_t seq, const std::string& outcome = "miss") {
    events::Event e;
    e.ts_ms = 1'700'000'000'000 + seq;
    e.pid = pid;
    e.crate = "crate_" + std::to_string(seq);
    e.outcome = outcome;
    e.source = outcome == "hit" ? "local" : "";
    e.wrapper_us = 1000 + seq;
    e.compile_us = 2000 + seq;
    e.saved_ms = 3 * seq;
    e.bytes = static_cast<std::uint64_t>(4 * seq);
    // A long reason makes each line large enough that torn writes would show.
    e.reason = std::string(300, static_cast<char>('a' + seq % 26));
    return e;
}

void check_same(const events::Event& a, const events::Event& b) {
    CHECK(a.ts_ms == b.ts_ms);
    CHECK(a.pid == b.pid);
    CHECK(a.crate == b.crate);
    CHECK(a.outcome == b.outcome);
    CHECK(a.source == b.source);
    CHECK(a.wrapper_us == b.wrapper_us);
    CHECK(a.compile_us == b.compile_us);
    CHECK(a.saved_ms == b.saved_ms);
    CHECK(a.bytes == b.bytes);
    CHECK(a.reason == b.reason);
}

// Every line of every log file parses, and (pid, ts) pairs are all there once.
void check_log(const fs::path& dir, std::size_t writers, std::size_t per_writer, std::int64_t first_pid) {
    auto text = kache::test::read_file(dir / "events.jsonl");
    std::size_t lines = 0, pos = 0;
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        REQUIRE(end != std::string::npos); // the file ends with a complete line
        auto e = events::from_json(std::string_view(text).substr(pos, end - pos));
        REQUIRE(e); // an intact line
        ++lines;
        pos = end + 1;
    }
    CHECK(lines == writers * per_writer);

    auto all = events::read_all(dir);
    REQUIRE(all.size() == writers * per_writer);
    std::set<std::pair<std::int64_t, std::int64_t>> seen;
    for (auto& e : all) {
        seen.insert({e.pid, e.ts_ms});
        auto expected = make_event(e.pid, e.ts_ms - 1'700'000'000'000);
        check_same(e, expected);
    }
    CHECK(seen.size() == writers * per_writer);
    for (std::size_t w = 0; w < writers; ++w)
        for (std::size_t i = 0; i < per_writer; ++i)
            CHECK(seen.count({first_pid + static_cast<std::int64_t>(w), 1'700'000'000'000 + static_cast<std::int64_t>(i)}) == 1);
}

} // namespace

TEST_CASE("events: JSON round trip", "[events]") {
    events::Event e;
    e.ts_ms = 1'712'345'678'901;
    e.pid = 4242;
    e.crate = "we\"ird\\crate";
    e.outcome = "passthrough";
    e.source = "";
    e.wrapper_us = -1; // never negative in practice, but the format carries it
    e.compile_us = 9'000'000'000;
    e.saved_ms = 12;
    e.bytes = 1ull << 40;
    e.reason = "line1\nline2\ttab \x01 ctrl\r end \"quoted\" back\\slash caf\xc3\xa9";

    std::string line = events::to_json(e);
    CHECK(line.find('\n') == std::string::npos); // one line
    CHECK(line.front() == '{');
    CHECK(line.back() == '}');
    CHECK(line.find("\"outcome\":\"passthrough\"") != std::string::npos);
    CHECK(line.find("\"ts_ms\":1712345678901") != std::string::npos);

    auto back = events::from_json(line);
    REQUIRE(back);
    check_same(e, *back);

    // Written by hand with other spacing and an unknown key.
    auto hand = events::from_json(
        R"({ "outcome" : "hit", "crate":"x", "extra":"ignored", "n":5, "bytes": 7, "reason":"a\u0041b" })");
    REQUIRE(hand);
    CHECK(hand->outcome == "hit");
    CHECK(hand->crate == "x");
    CHECK(hand->bytes == 7);
    CHECK(hand->reason == "aAb");
}

TEST_CASE("events: from_json rejects malformed lines", "[events]") {
    const std::string good = events::to_json(make_event(1, 1));
    REQUIRE(events::from_json(good));
    CHECK_FALSE(events::from_json(""));
    CHECK_FALSE(events::from_json("not json"));
    CHECK_FALSE(events::from_json("{"));
    CHECK_FALSE(events::from_json(good.substr(0, good.size() / 2)));
    CHECK_FALSE(events::from_json(good.substr(0, good.size() - 1)));
    CHECK_FALSE(events::from_json(R"({"crate":"x"})"));            // no outcome
    CHECK_FALSE(events::from_json(R"({"outcome":"hit" "crate":"x"})")); // missing comma
    CHECK_FALSE(events::from_json(R"({"outcome":"hit","bytes":zz})"));
    CHECK_FALSE(events::from_json(R"({"outcome":"hit","reason":"bad \u00zz"})"));
}

TEST_CASE("events: append and read_all", "[events]") {
    TempDir dir;
    fs::path events_dir = dir / "events"; // created on first append
    CHECK(events::read_all(events_dir).empty());
    events::append(events_dir, make_event(7, 1, "hit"));
    events::append(events_dir, make_event(7, 2, "miss"));
    // A malformed line in the middle is skipped, not fatal.
    {
        std::ofstream out(events_dir / "events.jsonl", std::ios::app);
        out << "{garbage\n";
    }
    events::append(events_dir, make_event(7, 3, "error"));
    auto all = events::read_all(events_dir);
    REQUIRE(all.size() == 3);
    check_same(all[0], make_event(7, 1, "hit"));
    check_same(all[1], make_event(7, 2, "miss"));
    check_same(all[2], make_event(7, 3, "error"));
}

TEST_CASE("events: concurrent appends from threads keep lines intact", "[events]") {
    TempDir dir;
    const std::size_t threads = 8, per_thread = 250;
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (std::size_t i = 0; i < per_thread; ++i)
                events::append(dir.path(), make_event(100 + static_cast<std::int64_t>(t), static_cast<std::int64_t>(i)));
        });
    for (auto& th : pool) th.join();
    check_log(dir.path(), threads, per_thread, 100);
}

TEST_CASE("events: concurrent appends from processes keep lines intact", "[events]") {
    TempDir dir;
    const std::size_t procs = 6, per_proc = 250;
    std::vector<pid_t> children;
    for (std::size_t p = 0; p < procs; ++p) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            for (std::size_t i = 0; i < per_proc; ++i)
                events::append(dir.path(), make_event(500 + static_cast<std::int64_t>(p), static_cast<std::int64_t>(i)));
            ::_exit(0);
        }
        children.push_back(pid);
    }
    for (pid_t c : children) {
        int status = 0;
        REQUIRE(::waitpid(c, &status, 0) == c);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }
    check_log(dir.path(), procs, per_proc, 500);
}

TEST_CASE("events: the log rotates and read_all reads oldest first", "[events]") {
    TempDir dir;
    // Fill the log past the rotation size with valid lines.
    std::string line = events::to_json(make_event(1, 0)) + "\n";
    std::size_t n = static_cast<std::size_t>(events::k_rotate_bytes / line.size()) + 10;
    {
        std::string big;
        big.reserve(n * line.size());
        for (std::size_t i = 0; i < n; ++i) big += line;
        kache::test::write_file(dir / "events.jsonl", big);
    }
    events::append(dir.path(), make_event(2, 1)); // rotates
    events::append(dir.path(), make_event(3, 2)); // lands in a fresh log
    std::size_t files = 0;
    for (auto& f : fs::directory_iterator(dir.path()))
        if (f.path().extension() == ".jsonl") ++files;
    CHECK(files == 2);
    CHECK(fs::file_size(dir / "events.jsonl") < 4096);

    auto all = events::read_all(dir.path());
    REQUIRE(all.size() == n + 2);
    CHECK(all.front().pid == 1);
    CHECK(all[n].pid == 2);
    CHECK(all.back().pid == 3);

    events::clear(dir.path());
    CHECK(events::read_all(dir.path()).empty());
    CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("events: summarize", "[events]") {
    auto ev = [](const char* outcome, const char* source, std::int64_t saved, std::uint64_t bytes) {
        events::Event e;
        e.outcome = outcome;
        e.source = source;
        e.saved_ms = saved;
        e.bytes = bytes;
        return e;
    };
    std::vector<events::Event> list = {
        ev("hit", "local", 100, 10),      ev("hit", "remote", 200, 20), ev("hit", "prefetched", 300, 30),
        ev("hit", "", 400, 40),           ev("miss", "", 999, 999),     ev("miss", "", 0, 0),
        ev("passthrough", "", 0, 0),      ev("error", "", 0, 0),        ev("error", "", 0, 0),
        ev("something-new", "", 5, 5),
    };
    auto s = events::summarize(list);
    CHECK(s.hits == 4);
    CHECK(s.local_hits == 2);
    CHECK(s.remote_hits == 1);
    CHECK(s.prefetched_hits == 1);
    CHECK(s.misses == 2);
    CHECK(s.passthroughs == 1);
    CHECK(s.errors == 2);
    CHECK(s.time_saved_ms == 1000); // only hits save time
    CHECK(s.bytes_restored == 100); // only hits restore bytes
    CHECK(s.hit_rate() == Approx(4.0 / 6.0));

    CHECK(events::summarize({}).hit_rate() == 0.0);
    CHECK(events::summarize({ev("passthrough", "", 0, 0)}).hit_rate() == 0.0);
    CHECK(events::summarize({ev("hit", "local", 1, 1)}).hit_rate() == 1.0);
}

TEST_CASE("events: clear removes the log", "[events]") {
    TempDir dir;
    events::append(dir.path(), make_event(1, 1));
    kache::test::write_file(dir / "events-1000.jsonl", events::to_json(make_event(1, 0)) + "\n");
    kache::test::write_file(dir / "keep.txt", "not a log");
    CHECK(events::read_all(dir.path()).size() == 2);
    events::clear(dir.path());
    CHECK(events::read_all(dir.path()).empty());
    CHECK_FALSE(fs::exists(dir / "events.jsonl"));
    CHECK(fs::exists(dir / "keep.txt"));
    // Appending after a clear starts a new log.
    events::append(dir.path(), make_event(1, 2));
    CHECK(events::read_all(dir.path()).size() == 1);
    events::clear(dir / "does-not-exist"); // harmless
}

TEST_CASE("events: only the newest rotated logs are kept", "[events]") {
    TempDir dir;
    for (int i = 0; i < 6; ++i) kache::test::write_file(dir / ("events-100" + std::to_string(i) + ".jsonl"), "{}\n");
    kache::test::write_file(dir / "events.jsonl", "{}\n");
    events::prune_rotated(dir.path(), 3);
    std::set<std::string> left;
    for (auto& e : std::filesystem::directory_iterator(dir.path())) left.insert(e.path().filename().string());
    CHECK(left == std::set<std::string>{"events-1003.jsonl", "events-1004.jsonl", "events-1005.jsonl", "events.jsonl"});
}
