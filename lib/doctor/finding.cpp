// The one-line form of a finding, passed from `kached doctor-remote` to `kache doctor`.
#include <kache/doctor.hpp>

namespace kache::doctor {

namespace {

// A field may not hold the separators; anything else a person can read is kept.
std::string clean(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    return out;
}

} // namespace

std::string to_line(const Finding& f) {
    switch (f.status) {
    case Status::ok: return "ok\t" + clean(f.what);
    case Status::note: return "note\t" + clean(f.what);
    case Status::problem: return "problem\t" + clean(f.what) + "\t" + clean(f.fix);
    }
    return {};
}

Result<Finding> from_line(std::string_view line) {
    if (line.size() > k_max_finding_line) return fail(ErrorKind::invalid_input, "finding line too long");
    for (char c : line)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f)
            return fail(ErrorKind::invalid_input, "control character in a finding line");
    auto tab = line.find('\t');
    if (tab == std::string_view::npos) return fail(ErrorKind::invalid_input, "not a finding line");
    auto kind = line.substr(0, tab);
    auto rest = line.substr(tab + 1);
    Finding f;
    if (kind == "ok" || kind == "note") {
        if (rest.find('\t') != std::string_view::npos) return fail(ErrorKind::invalid_input, "extra field");
        f.status = kind == "ok" ? Status::ok : Status::note;
        f.what = std::string(rest);
    } else if (kind == "problem") {
        auto tab2 = rest.find('\t');
        if (tab2 == std::string_view::npos || rest.find('\t', tab2 + 1) != std::string_view::npos)
            return fail(ErrorKind::invalid_input, "a problem line needs what and fix");
        f.status = Status::problem;
        f.what = std::string(rest.substr(0, tab2));
        f.fix = std::string(rest.substr(tab2 + 1));
    } else {
        return fail(ErrorKind::invalid_input, "unknown finding kind");
    }
    if (f.what.empty()) return fail(ErrorKind::invalid_input, "empty finding");
    return f;
}

} // namespace kache::doctor
