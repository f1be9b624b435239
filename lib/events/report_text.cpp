// `kache report` for people: plain text for a terminal, Markdown for a PR
// comment, and GitHub's step summary (Markdown with the long tables folded).
#include <kache/events/report.hpp>
#include <kache/util/fs.hpp>

#include <cstdio>

namespace kache::events {

namespace {

std::string hits_text(const Tally& t) {
    return std::to_string(t.hits) + " (local " + std::to_string(t.local_hits) + ", prefetched " +
           std::to_string(t.prefetched_hits) + ", remote " + std::to_string(t.remote_hits) + ")";
}

std::string percent_text(double ratio) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.1f %%", 100.0 * ratio);
    return buf;
}

std::string summary_line(const Report& r) {
    const Tally& t = r.tally;
    return std::to_string(r.sessions.size()) + " build session" + (r.sessions.size() == 1 ? "" : "s") + ", " +
           std::to_string(t.units) + " units: " + std::to_string(t.hits) + " hits (" + percent_text(t.hit_rate()) +
           "), " + std::to_string(t.misses) + " misses, compile time " + seconds_text(t.compile_us) +
           ", time saved " + seconds_text(t.saved_ms * 1000);
}

// ---- text

void crate_table_text(std::string& out, const std::vector<CrateRow>& rows, std::size_t top, const char* indent) {
    char line[512];
    std::snprintf(line, sizeof line, "%s%-28s %5s %5s %6s %7s %5s %11s %10s %10s  %s\n", indent, "crate", "hits",
                  "local", "remote", "misses", "other", "compile", "saved", "bytes", "miss reasons");
    out += line;
    std::size_t n = top == 0 ? rows.size() : std::min(top, rows.size());
    for (std::size_t i = 0; i < n; ++i) {
        const Tally& t = rows[i].tally;
        std::string name = rows[i].crate.empty() ? "-" : printable(rows[i].crate);
        std::snprintf(line, sizeof line, "%s%-28s %5llu %5llu %6llu %7llu %5llu %11s %10s %10s  %s\n", indent,
                      name.c_str(), (unsigned long long)t.hits, (unsigned long long)t.local_hits,
                      (unsigned long long)(t.remote_hits + t.prefetched_hits), (unsigned long long)t.misses,
                      (unsigned long long)(t.passthroughs + t.errors),
                      seconds_text(t.compile_us).c_str(), seconds_text(t.saved_ms * 1000).c_str(),
                      util::human_bytes(t.bytes_restored + t.bytes_recorded).c_str(), reasons_text(t).c_str());
        out += line;
    }
    if (n < rows.size()) out += std::string(indent) + "... and " + std::to_string(rows.size() - n) + " more crates\n";
}

// ---- markdown

// A table cell: no line breaks, pipes escaped, no HTML from the log.
std::string cell(std::string_view s) {
    std::string out;
    for (char c : printable(s)) {
        if (c == '|') out += "\\|";
        else if (c == '<') out += "&lt;";
        else if (c == '>') out += "&gt;";
        else if (c == '&') out += "&amp;";
        else out += c;
    }
    return out;
}

void session_table_md(std::string& out, const Report& r) {
    out += "| session | started | duration | units | hits (local / prefetched / remote) | misses | miss reasons | "
           "compile | saved | restored | recorded |\n";
    out += "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|\n";
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        const Session& s = r.sessions[i];
        const Tally& t = s.tally;
        out += "| " + std::to_string(i + 1) + " (cargo " + cell(s.cargo_pid.empty() ? "?" : s.cargo_pid) + ") | " +
               local_time_text(s.begin_us) + " | " + seconds_text(s.end_us - s.begin_us) + " | " +
               std::to_string(t.units) + " | " + std::to_string(t.hits) + " (" + std::to_string(t.local_hits) +
               " / " + std::to_string(t.prefetched_hits) + " / " + std::to_string(t.remote_hits) + ") | " +
               std::to_string(t.misses) + " | " + cell(reasons_text(t)) + " | " + seconds_text(t.compile_us) +
               " | " + seconds_text(t.saved_ms * 1000) + " | " + util::human_bytes(t.bytes_restored) + " | " +
               util::human_bytes(t.bytes_recorded) + " |\n";
    }
}

void crate_table_md(std::string& out, const std::vector<CrateRow>& rows, std::size_t top) {
    out += "| crate | hits | local | prefetched | remote | misses | miss reasons | other | compile | saved | bytes |\n";
    out += "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n";
    std::size_t n = top == 0 ? rows.size() : std::min(top, rows.size());
    for (std::size_t i = 0; i < n; ++i) {
        const Tally& t = rows[i].tally;
        out += "| " + (rows[i].crate.empty() ? std::string("-") : cell(rows[i].crate)) + " | " +
               std::to_string(t.hits) + " | " + std::to_string(t.local_hits) + " | " +
               std::to_string(t.prefetched_hits) + " | " + std::to_string(t.remote_hits) + " | " +
               std::to_string(t.misses) + " | " + cell(reasons_text(t)) + " | " +
               std::to_string(t.passthroughs + t.errors) + " | " + seconds_text(t.compile_us) + " | " +
               seconds_text(t.saved_ms * 1000) + " | " + util::human_bytes(t.bytes_restored + t.bytes_recorded) +
               " |\n";
    }
    if (n < rows.size()) out += "\n… and " + std::to_string(rows.size() - n) + " more crates\n";
}

} // namespace

std::string render_text(const Report& r, std::size_t top) {
    std::string out = "kache report: " + summary_line(r) + "\n";
    if (r.sessions.empty()) return out + "(no units in the event log" + (r.since_us ? " for this period" : "") + ")\n";
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        const Session& s = r.sessions[i];
        const Tally& t = s.tally;
        out += "\nsession " + std::to_string(i + 1) + ": cargo pid " + (s.cargo_pid.empty() ? "?" : s.cargo_pid) +
               ", started " + local_time_text(s.begin_us) + ", " + seconds_text(s.end_us - s.begin_us) + ", " +
               std::to_string(t.units) + " units\n";
        out += "  hits " + hits_text(t) + ", misses " + std::to_string(t.misses);
        if (!t.miss_reasons.empty()) out += " (" + reasons_text(t) + ")";
        out += ", passthroughs " + std::to_string(t.passthroughs) + ", errors " + std::to_string(t.errors) + "\n";
        out += "  compile time " + seconds_text(t.compile_us) + ", time saved " + seconds_text(t.saved_ms * 1000) +
               ", kache's own time " + seconds_text(t.wrapper_us) + ", restored " +
               util::human_bytes(t.bytes_restored) + ", recorded " + util::human_bytes(t.bytes_recorded) + "\n";
        crate_table_text(out, s.crates, top, "  ");
    }
    out += "\ntop crates by time (compile time + time saved), all sessions; other = passed through or failed\n";
    crate_table_text(out, r.crates, top, "  ");
    return out;
}

std::string render_markdown(const Report& r, std::size_t top, bool github) {
    std::string out = "### kache report\n\n**" + cell(summary_line(r)) + "**\n\n";
    if (r.sessions.empty()) return out + "No units in the event log" + (r.since_us ? " for this period" : "") + ".\n";
    session_table_md(out, r);
    out += "\n";
    if (!github) {
        out += "#### Crates (compile time + time saved, most first)\n\n";
        crate_table_md(out, r.crates, top);
        return out;
    }
    // The step summary stays short: the per-crate rows are folded.
    out += "<details><summary>Crates (compile time + time saved, most first)</summary>\n\n";
    crate_table_md(out, r.crates, top);
    out += "\n</details>\n";
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        out += "\n<details><summary>Session " + std::to_string(i + 1) + ": crates</summary>\n\n";
        crate_table_md(out, r.sessions[i].crates, top);
        out += "\n</details>\n";
    }
    return out;
}

} // namespace kache::events
