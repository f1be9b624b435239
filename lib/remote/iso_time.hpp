// The timestamps S3 listings carry (LastModified, "2026-12-06T16:26:14.000Z").
#pragma once

#include <cstdint>
#include <string_view>

namespace kache::remote::detail {

// Seconds since 1970 UTC of an ISO 8601 timestamp ("YYYY-MM-DDTHH:MM:SS[.fff]Z", or with
// an offset); 0 for anything else (the caller then treats the time as unknown).
std::int64_t parse_iso8601_utc(std::string_view text);

} // namespace kache::remote::detail
