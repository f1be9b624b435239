// kache::events report: the new event fields, old lines, sessions, per-crate
// tallies, tracks and the formats' shape.
#include <kache/events/report.hpp>

#include "core_test_support.hpp"

#include <algorithm>

using namespace kache;

namespace {

constexpr std::int64_t k_t0 = 1'700'000'000'000'000; // µs

events::Event unit(std::string session, std::string crate, std::string outcome, std::int64_t begin_ms,
                   std::int64_t dur_ms, std::string source = "", std::string miss = "") {
    events::Event e;
    e.session = std::move(session);
    e.crate = std::move(crate);
    e.outcome = std::move(outcome);
    e.source = std::move(source);
    e.miss_reason = std::move(miss);
    e.start_us = k_t0 + begin_ms * 1000;
    if (e.outcome == "miss") {
        e.compile_us = dur_ms * 1000 - 100;
        e.wrapper_us = 100;
        e.bytes = 1000;
    } else {
        e.wrapper_us = dur_ms * 1000;
        e.saved_ms = 500;
        e.bytes = 10;
    }
    e.ts_ms = (e.start_us + dur_ms * 1000) / 1000;
    e.key = std::string(32, 'a');
    return e;
}

} // namespace

TEST_CASE("report: the new event fields round-trip", "[report]") {
    auto e = unit("4711", "serde", "miss", 0, 20, "", "inputs changed");
    auto back = events::from_json(events::to_json(e));
    REQUIRE(back);
    CHECK(back->session == "4711");
    CHECK(back->start_us == e.start_us);
    CHECK(back->key == e.key);
    CHECK(back->miss_reason == "inputs changed");
    CHECK(back->begin_us() == e.start_us);
    CHECK(back->duration_us() == 20000);
}

TEST_CASE("report: a line from an older kache still parses and is placed in time", "[report]") {
    std::string old = R"({"ts_ms":1700000000500,"pid":12,"crate":"itoa","outcome":"hit","source":"local",)"
                      R"("wrapper_us":300000,"compile_us":0,"saved_ms":900,"bytes":77,"reason":""})";
    auto e = events::from_json(old);
    REQUIRE(e);
    CHECK(e->session.empty());
    CHECK(e->start_us == 0);
    CHECK(e->key.empty());
    CHECK(e->begin_us() == 1700000000500 * 1000 - 300000); // its end minus its duration
    auto s = events::summarize({*e});
    CHECK(s.hits == 1);
    CHECK(s.time_saved_ms == 900);
    auto r = events::build_report({*e});
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].cargo_pid.empty());
    CHECK(r.sessions[0].tally.local_hits == 1);
}

TEST_CASE("report: hostile numbers neither overflow nor go negative", "[report]") {
    std::string bad = R"({"ts_ms":9223372036854775807,"pid":1,"crate":"x","outcome":"miss",)"
                      R"("wrapper_us":-5,"compile_us":9223372036854775807,"saved_ms":0,"bytes":0,"reason":""})";
    auto e = events::from_json(bad);
    REQUIRE(e);
    CHECK(e->duration_us() >= 0);
    CHECK(e->duration_us() <= events::k_max_unit_us);
    auto r = events::build_report({*e});
    REQUIRE(r.sessions.size() == 1);
    CHECK(r.sessions[0].end_us >= r.sessions[0].begin_us);
}

TEST_CASE("report: units group into sessions by cargo pid and by time", "[report]") {
    std::vector<events::Event> log = {
        unit("100", "a", "miss", 0, 50, "", "new"),
        unit("100", "b", "miss", 10, 50, "", "new"),
        unit("100", "a", "passthrough", 0, 1),
        unit("200", "a", "hit", 1000, 2, "local"),
        unit("200", "b", "hit", 1001, 2, "remote"),
        unit("200", "c", "miss", 1002, 30, "", "inputs changed"),
        // pid 100 again, long after: a reused pid is another session
        unit("100", "a", "hit", 10'000'000, 2, "prefetched"),
    };
    auto r = events::build_report(log);
    REQUIRE(r.sessions.size() == 3);
    CHECK(r.sessions[0].cargo_pid == "100");
    CHECK(r.sessions[0].tally.misses == 2);
    CHECK(r.sessions[0].tally.passthroughs == 1);
    CHECK(r.sessions[0].tally.miss_reasons.at("new") == 2);
    CHECK(r.sessions[0].begin_us == k_t0);
    CHECK(r.sessions[0].end_us == k_t0 + 60'000);
    CHECK(r.sessions[1].cargo_pid == "200");
    CHECK(r.sessions[1].tally.hits == 2);
    CHECK(r.sessions[1].tally.local_hits == 1);
    CHECK(r.sessions[1].tally.remote_hits == 1);
    CHECK(r.sessions[1].tally.misses == 1);
    CHECK(r.sessions[1].tally.miss_reasons.at("inputs changed") == 1);
    CHECK(r.sessions[2].tally.prefetched_hits == 1);
    CHECK(r.sessions[0].id != r.sessions[2].id);

    CHECK(r.tally.units == log.size());
    CHECK(r.tally.hits == 3);
    CHECK(r.tally.misses == 3);
    // Per crate, most costly first; the counts add up to the totals.
    std::uint64_t hits = 0, misses = 0;
    for (auto& c : r.crates) {
        hits += c.tally.hits;
        misses += c.tally.misses;
    }
    CHECK(hits == r.tally.hits);
    CHECK(misses == r.tally.misses);
    for (std::size_t i = 1; i < r.crates.size(); ++i) CHECK(r.crates[i - 1].tally.cost_us() >= r.crates[i].tally.cost_us());
    auto& a = *std::find_if(r.crates.begin(), r.crates.end(), [](auto& c) { return c.crate == "a"; });
    CHECK(a.tally.units == 4); // a miss, a passthrough, two hits
    CHECK(a.tally.hits == 2);
    CHECK(a.tally.misses == 1);
    CHECK(a.tally.passthroughs == 1);
    CHECK(a.tally.bytes_recorded == 1000);
    CHECK(a.tally.bytes_restored == 20);
    CHECK(a.tally.saved_ms == 1000);
}

TEST_CASE("report: since keeps the units that ended after it", "[report]") {
    std::vector<events::Event> log = {unit("1", "a", "miss", 0, 10), unit("2", "b", "hit", 5000, 10)};
    CHECK(events::build_report(log, k_t0 + 5'005'000).tally.units == 1);
    CHECK(events::build_report(log, k_t0 + 10'001).tally.units == 1);
    CHECK(events::build_report(log, k_t0 + 10'000).tally.units == 2); // ended exactly then
    CHECK(events::build_report(log, k_t0 + 6'000'000).sessions.empty());
}

TEST_CASE("report: overlapping units never share a track", "[report]") {
    // begin, duration (ms): sorted by begin
    std::vector<std::pair<int, int>> spans = {{0, 100}, {10, 20}, {20, 100}, {30, 5}, {100, 10}, {120, 1}, {121, 0}};
    std::vector<events::Event> units;
    for (auto [b, d] : spans) units.push_back(unit("1", "x", "miss", b, d));
    auto tracks = events::assign_tracks(units);
    REQUIRE(tracks.size() == units.size());
    for (std::size_t i = 0; i < units.size(); ++i)
        for (std::size_t j = i + 1; j < units.size(); ++j) {
            auto bi = units[i].begin_us(), ei = bi + units[i].duration_us();
            auto bj = units[j].begin_us(), ej = bj + units[j].duration_us();
            if (bi < ej && bj < ei) CHECK(tracks[i] != tracks[j]);
        }
    CHECK(tracks[0] == 1);
    CHECK(tracks[1] == 2);
    CHECK(tracks[2] == 3);  // at 20 ms both are busy
    CHECK(tracks[3] == 2);  // the second is free again at 30 ms
    CHECK(*std::max_element(tracks.begin(), tracks.end()) == 3);
    CHECK(tracks[4] == 1);  // the first track is free at 100 ms
}

TEST_CASE("report: formats", "[report]") {
    std::vector<events::Event> log = {unit("100", "a|b<x>", "miss", 0, 50, "", "new"),
                                      unit("200", "a|b<x>", "hit", 1000, 2, "local")};
    auto r = events::build_report(log);
    CHECK(events::parse_format("json") == events::Format::json);
    CHECK_FALSE(events::parse_format("xml"));

    auto text = events::render(r, events::Format::text, 10);
    CHECK(text.find("session 1: cargo pid 100") != std::string::npos);
    CHECK(text.find("session 2: cargo pid 200") != std::string::npos);

    auto json = events::render(r, events::Format::json, 10);
    CHECK(json.find("\"schema\":\"kache-report-1\"") != std::string::npos);
    CHECK(json.find("\"miss_reasons\":{\"new\":1}") != std::string::npos);

    auto md = events::render(r, events::Format::markdown, 10);
    CHECK(md.find("| crate |") != std::string::npos);
    CHECK(md.find("a\\|b&lt;x&gt;") != std::string::npos); // a cell cannot break the table
    auto gh = events::render(r, events::Format::github, 10);
    CHECK(gh.find("<details>") != std::string::npos);

    auto trace = events::render(r, events::Format::trace, 10);
    CHECK(trace.find("\"ph\":\"X\"") != std::string::npos);
    CHECK(trace.find("\"dur\":50000") != std::string::npos);

    auto limited = events::render(r, events::Format::json, 0);
    CHECK(limited.find("\"crates_omitted\":0") != std::string::npos);
}
