// `kache report` for programs: JSON (schema kache-report-1, docs/report.md) and
// a Chrome trace / Perfetto timeline of complete events.
#include <kache/events/report.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>

namespace kache::events {

namespace {

void field(std::string& out, const char* name, std::int64_t v) {
    out += "\"";
    out += name;
    out += "\":" + std::to_string(v) + ",";
}

void field(std::string& out, const char* name, std::uint64_t v) {
    out += "\"";
    out += name;
    out += "\":" + std::to_string(v) + ",";
}

void field(std::string& out, const char* name, std::string_view v) {
    out += "\"";
    out += name;
    out += "\":";
    util::append_json_string(out, v);
    out += ",";
}

// The tally's fields, each followed by a comma.
void tally_fields(std::string& out, const Tally& t) {
    field(out, "units", t.units);
    field(out, "hits", t.hits);
    field(out, "local_hits", t.local_hits);
    field(out, "prefetched_hits", t.prefetched_hits);
    field(out, "remote_hits", t.remote_hits);
    field(out, "misses", t.misses);
    field(out, "passthroughs", t.passthroughs);
    field(out, "errors", t.errors);
    field(out, "compile_ms", t.compile_us / 1000);
    field(out, "wrapper_ms", t.wrapper_us / 1000);
    field(out, "saved_ms", t.saved_ms);
    field(out, "bytes_restored", t.bytes_restored);
    field(out, "bytes_recorded", t.bytes_recorded);
    out += "\"miss_reasons\":{";
    bool first = true;
    for (auto& [reason, n] : t.miss_reasons) {
        if (!first) out += ",";
        first = false;
        util::append_json_string(out, reason);
        out += ":" + std::to_string(n);
    }
    out += "},";
}

void crates_json(std::string& out, const std::vector<CrateRow>& rows, std::size_t top) {
    std::size_t n = top == 0 ? rows.size() : std::min(top, rows.size());
    out += "\"crates\":[";
    for (std::size_t i = 0; i < n; ++i) {
        out += i ? ",{" : "{";
        field(out, "crate", rows[i].crate);
        tally_fields(out, rows[i].tally);
        out.back() = '}';
    }
    out += "],";
    field(out, "crates_omitted", static_cast<std::uint64_t>(rows.size() - n));
}

} // namespace

std::string render_json(const Report& r, std::size_t top) {
    std::string out = "{";
    field(out, "schema", k_report_schema);
    field(out, "generated_ms", util::now_ns() / 1000000);
    if (r.since_us) field(out, "since_ms", r.since_us / 1000);
    else out += "\"since_ms\":null,";
    out += "\"totals\":{";
    tally_fields(out, r.tally);
    out.back() = '}';
    out += ",\"sessions\":[";
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        const Session& s = r.sessions[i];
        out += i ? ",{" : "{";
        field(out, "id", s.id);
        field(out, "cargo_pid", s.cargo_pid);
        field(out, "start_ms", s.begin_us / 1000);
        field(out, "end_ms", s.end_us / 1000);
        field(out, "duration_ms", (s.end_us - s.begin_us) / 1000);
        out += "\"totals\":{";
        tally_fields(out, s.tally);
        out.back() = '}';
        out += ",";
        crates_json(out, s.crates, top);
        out.back() = '}';
    }
    out += "],";
    crates_json(out, r.crates, top);
    out.back() = '}';
    out += "\n";
    return out;
}

std::string render_trace(const Report& r) {
    // One process per session, one thread (track) per concurrent wrapper.
    std::string out = "{\"traceEvents\":[";
    bool first = true;
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        const Session& s = r.sessions[i];
        auto tracks = assign_tracks(s.units);
        for (std::size_t u = 0; u < s.units.size(); ++u) {
            const Event& e = s.units[u];
            out += first ? "\n{" : ",\n{";
            first = false;
            field(out, "name", e.crate.empty() ? std::string_view("(unknown)") : std::string_view(e.crate));
            field(out, "cat", e.outcome);
            field(out, "ph", "X");
            field(out, "ts", e.begin_us());
            field(out, "dur", e.duration_us());
            field(out, "pid", static_cast<std::uint64_t>(i + 1));
            field(out, "tid", static_cast<std::int64_t>(tracks[u]));
            out += "\"args\":{";
            field(out, "outcome", e.outcome);
            field(out, "source", e.source);
            field(out, "key", e.key);
            field(out, "reason", e.miss_reason.empty() ? e.reason : e.miss_reason);
            if (!e.miss_reason.empty() && !e.reason.empty()) field(out, "note", e.reason);
            field(out, "session", s.id);
            field(out, "compile_us", e.compile_us);
            field(out, "wrapper_us", e.wrapper_us);
            field(out, "bytes", e.bytes);
            out.back() = '}';
            out += "}";
        }
    }
    out += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":{";
    field(out, "schema", k_report_schema);
    out.back() = '}';
    out += "}\n";
    return out;
}

} // namespace kache::events
