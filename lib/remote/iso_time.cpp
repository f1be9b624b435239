// ISO 8601 UTC timestamps of S3 listings (iso_time.hpp).
#include "iso_time.hpp"

#include <charconv>
#include <ctime>

namespace kache::remote::detail {

namespace {

// The digits of text[at, at+n) as a number; -1 if any is not a digit.
int digits(std::string_view text, std::size_t at, std::size_t n) {
    int v = 0;
    auto [p, ec] = std::from_chars(text.data() + at, text.data() + at + n, v);
    return ec == std::errc() && p == text.data() + at + n ? v : -1;
}

} // namespace

std::int64_t parse_iso8601_utc(std::string_view t) {
    // "YYYY-MM-DDTHH:MM:SS" then an optional fraction, then 'Z'.
    if (t.size() < 20 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t.back() != 'Z')
        return 0;
    std::string_view frac = t.substr(19, t.size() - 20);
    if (!frac.empty() && (frac[0] != '.' || frac.size() == 1 || digits(frac, 1, frac.size() - 1) < 0)) return 0;
    int y = digits(t, 0, 4), mo = digits(t, 5, 2), d = digits(t, 8, 2);
    int h = digits(t, 11, 2), mi = digits(t, 14, 2), s = digits(t, 17, 2);
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60)
        return 0;
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    auto secs = ::timegm(&tm);
    return secs < 0 ? 0 : static_cast<std::int64_t>(secs);
}

} // namespace kache::remote::detail
