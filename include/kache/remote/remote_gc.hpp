// kache/remote/remote_gc.hpp — keeping a shared remote bounded (`kache remote gc`).
//
// A pack's last use is the newest day any machine's access object lists it
// (kache/remote/access_log.hpp), or the day it was uploaded (the listing's
// LastModified) if that is newer; a pack no access object lists falls back to its
// upload day. GC learns this from one LIST of v1/access/ and one bounded GET per
// access object it keeps, never a request per pack.
//
// GC removes the manifest objects naming a pack FIRST, then the pack: a manifest
// never names a pack that is gone, and a reader racing with GC at worst misses
// (pull_entry treats a missing object as an error, i.e. a miss). Access objects
// older than the longest age GC needs (--max-age, else k_access_retention) go too, and
// each settled day's access objects are rewritten as one (a fleet of ephemeral runners
// writes one per build), so what GC reads stays one object per past day.
#pragma once

#include <kache/error.hpp>
#include <kache/remote.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace kache::remote {

// How long access objects are kept when GC runs without --max-age.
inline constexpr std::chrono::days k_access_retention{90};
// Access objects of a day at least this many days past are settled (no daemon still
// writes them): GC rewrites each such day's objects as one.
inline constexpr std::int64_t k_access_settle_days = 2;
// GC reads at most this many bytes of access objects in one run; beyond it, the
// rest are skipped with a warning (their packs fall back to their upload day).
inline constexpr std::uint64_t k_max_access_bytes_per_gc = 512ull << 20;

struct GcOptions {
    std::optional<std::uint64_t> max_size;       // keep packs + manifests under this many bytes
    std::optional<std::chrono::seconds> max_age; // remove packs not used for this long
    bool dry_run = false;                        // report only, change nothing
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
    std::filesystem::path tmp_dir;               // where access objects are downloaded (required)
};

// One pack GC removes (or would remove).
struct GcVictim {
    std::string pack_key;
    std::uint64_t bytes = 0;              // the pack plus its manifest objects
    std::optional<std::int64_t> last_day; // last use (days since 1970); nullopt: unknown
    std::vector<std::string> manifests;   // manifest objects naming it (removed first)
};

struct GcReport {
    std::size_t packs = 0;              // packs on the remote before GC
    std::uint64_t bytes_before = 0;     // packs + manifest objects before GC
    std::vector<GcVictim> victims;      // least recently used first
    std::uint64_t bytes_freed = 0;      // of the victims actually removed (or, dry run, would be)
    std::size_t orphan_manifests = 0;   // manifests naming no pack (removed unless dry run)
    std::size_t access_objects = 0;     // access objects read
    std::size_t stale_access = 0;       // access objects past retention (removed unless dry run)
    std::size_t compacted_access = 0;   // access objects of settled days rewritten as one per day
    std::vector<std::string> warnings;  // access objects skipped (malformed, too big, unreadable)
    std::vector<std::string> errors;    // removals that failed (the pack is then kept)
};

// Lists the remote and removes least recently used packs until the remote is under
// max_size and nothing is older than max_age. With neither set, only orphans and
// stale access objects go. Errors: a listing that fails (nothing is removed then).
Result<GcReport> gc(RemoteBackend& backend, const GcOptions& opt);

} // namespace kache::remote
