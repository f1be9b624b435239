// ISO 8601 UTC timestamps of S3 listings (iso_time.hpp), read by the one timestamp parser
// (credentials.hpp, parse_iso8601).
#include "iso_time.hpp"

#include <kache/remote/credentials.hpp>

namespace kache::remote::detail {

std::int64_t parse_iso8601_utc(std::string_view text) {
    auto t = parse_iso8601(text);
    if (!t) return 0;
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count();
    return secs < 0 ? 0 : secs;
}

} // namespace kache::remote::detail
