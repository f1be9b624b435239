// `kache report`: the event log grouped into build sessions and crates.
#include <kache/events/report.hpp>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace kache::events {

namespace {

std::int64_t end_of(const Event& e) { return e.begin_us() + e.duration_us(); }

// Per-crate rows of units, most costly first (then by name, for a stable order).
std::vector<CrateRow> crate_rows(const std::vector<const Event*>& units) {
    std::map<std::string, Tally> by_crate;
    for (auto* e : units) by_crate[e->crate].add(*e);
    std::vector<CrateRow> rows;
    for (auto& [name, t] : by_crate) rows.push_back({name, std::move(t)});
    std::stable_sort(rows.begin(), rows.end(),
                     [](const CrateRow& a, const CrateRow& b) { return a.tally.cost_us() > b.tally.cost_us(); });
    return rows;
}

Session make_session(std::vector<Event> units) {
    Session s;
    s.cargo_pid = units.front().session;
    s.begin_us = units.front().begin_us();
    std::vector<const Event*> ptrs;
    for (auto& e : units) {
        s.end_us = std::max(s.end_us, end_of(e));
        s.tally.add(e);
        ptrs.push_back(&e);
    }
    s.crates = crate_rows(ptrs);
    s.id = (s.cargo_pid.empty() ? std::string("?") : s.cargo_pid) + "@" + std::to_string(s.begin_us / 1000);
    s.units = std::move(units);
    return s;
}

} // namespace

void Tally::add(const Event& e) {
    ++units;
    compile_us += std::clamp<std::int64_t>(e.compile_us, 0, k_max_unit_us);
    wrapper_us += std::clamp<std::int64_t>(e.wrapper_us, 0, k_max_unit_us);
    if (e.outcome == "hit") {
        ++hits;
        saved_ms += std::clamp<std::int64_t>(e.saved_ms, 0, k_max_unit_us / 1000);
        bytes_restored += e.bytes;
        if (e.source == "remote") ++remote_hits;
        else if (e.source == "prefetched") ++prefetched_hits;
        else ++local_hits;
    } else if (e.outcome == "miss") {
        ++misses;
        bytes_recorded += e.bytes;
        ++miss_reasons[e.miss_reason];
    } else if (e.outcome == "passthrough") ++passthroughs;
    else if (e.outcome == "error") ++errors;
}

Report build_report(std::vector<Event> events, std::int64_t since_us) {
    Report r;
    r.since_us = since_us;
    if (since_us > 0)
        std::erase_if(events, [&](const Event& e) { return end_of(e) < since_us; });
    // By session, then by start: a session is a run of one cargo pid's units
    // without a long gap between them.
    std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
        if (a.session != b.session) return a.session < b.session;
        return a.begin_us() < b.begin_us();
    });
    std::vector<Event> run;
    std::int64_t run_end = 0;
    auto close_run = [&] {
        if (!run.empty()) r.sessions.push_back(make_session(std::move(run)));
        run.clear();
    };
    for (auto& e : events) {
        if (!run.empty()) {
            std::int64_t gap = e.session.empty() ? k_unknown_session_gap_us : k_session_gap_us;
            if (e.session != run.front().session || e.begin_us() > run_end + gap) close_run();
        }
        run_end = run.empty() ? end_of(e) : std::max(run_end, end_of(e));
        run.push_back(std::move(e));
    }
    close_run();
    std::stable_sort(r.sessions.begin(), r.sessions.end(),
                     [](const Session& a, const Session& b) { return a.begin_us < b.begin_us; });
    std::vector<const Event*> all;
    for (auto& s : r.sessions)
        for (auto& e : s.units) {
            r.tally.add(e);
            all.push_back(&e);
        }
    r.crates = crate_rows(all);
    return r;
}

std::vector<int> assign_tracks(const std::vector<Event>& units) {
    std::vector<std::int64_t> track_end; // when each track is free again
    std::vector<int> out;
    out.reserve(units.size());
    for (auto& e : units) {
        std::int64_t begin = e.begin_us();
        std::size_t t = 0;
        while (t < track_end.size() && track_end[t] > begin) ++t;
        if (t == track_end.size()) track_end.push_back(0);
        track_end[t] = begin + e.duration_us();
        out.push_back(static_cast<int>(t) + 1);
    }
    return out;
}

std::optional<Format> parse_format(std::string_view name) {
    if (name == "text") return Format::text;
    if (name == "json") return Format::json;
    if (name == "markdown" || name == "md") return Format::markdown;
    if (name == "github") return Format::github;
    if (name == "trace") return Format::trace;
    return std::nullopt;
}

std::string render(const Report& r, Format f, std::size_t top) {
    switch (f) {
    case Format::text: return render_text(r, top);
    case Format::json: return render_json(r, top);
    case Format::markdown: return render_markdown(r, top, false);
    case Format::github: return render_markdown(r, top, true);
    case Format::trace: return render_trace(r);
    }
    return {};
}

std::string printable(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    return out;
}

std::string seconds_text(std::int64_t us) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", double(us) / 1e6);
    return buf;
}

std::string local_time_text(std::int64_t unix_us) {
    std::time_t t = static_cast<std::time_t>(unix_us / 1000000);
    std::tm tm{};
    char buf[32] = "?";
    if (::localtime_r(&t, &tm)) std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

std::string reasons_text(const Tally& t) {
    std::string out;
    for (auto& [reason, n] : t.miss_reasons) {
        if (!out.empty()) out += ", ";
        out += (reason.empty() ? std::string("not told") : printable(reason)) + " " + std::to_string(n);
    }
    return out;
}

} // namespace kache::events
