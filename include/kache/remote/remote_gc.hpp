// kache/remote/remote_gc.hpp — keeping a shared remote bounded (`kache remote gc`).
//
// Readers record use cheaply: an empty-ish access marker object per pack,
//   <prefix>/v1/access/<K2>/<day>         day = days since 1970-01-01 (UTC)
// written at most once a day per key per store (the local store remembers the last
// day it wrote in <store>/remote-access/<K2>). The day is in the key, so GC learns
// every pack's last use from one LIST, without a GET per pack. push_entry writes one
// too, so a pack's upload day counts as a use; a pack without any marker (pushed
// before markers existed) is treated as the least recently used.
//
// GC removes the manifest objects naming a pack FIRST, then the pack, then its
// markers: a manifest never names a pack that is gone, and a reader racing with GC
// at worst misses (pull_entry treats a missing object as an error, i.e. a miss).
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/remote.hpp>
#include <kache/store.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::remote {

// Where access markers live (listing prefix, relative to the backend root).
inline constexpr std::string_view k_access_root = "v1/access/";

// Days since 1970-01-01 UTC.
std::int64_t day_number(std::chrono::system_clock::time_point t);

// "v1/access/<K2>/<day>"
std::string access_marker_key(const hash::Digest& k2, std::int64_t day);

// Records that pack k2 was used today, unless this store already recorded it today.
// Best effort: a failure (read-only remote, network) is ignored; it only makes GC
// think the pack is older than it is.
void record_access(const store::Store& store, RemoteBackend& backend, const hash::Digest& k2,
                   std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

struct GcOptions {
    std::optional<std::uint64_t> max_size;       // keep packs + manifests under this many bytes
    std::optional<std::chrono::seconds> max_age; // remove packs not used for this long
    bool dry_run = false;                        // report only, change nothing
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now();
};

// One pack GC removes (or would remove).
struct GcVictim {
    std::string pack_key;
    std::uint64_t bytes = 0;              // the pack plus its manifest objects
    std::optional<std::int64_t> last_day; // last recorded use; nullopt: never recorded
    std::vector<std::string> manifests;   // manifest objects naming it (removed first)
};

struct GcReport {
    std::size_t packs = 0;              // packs on the remote before GC
    std::uint64_t bytes_before = 0;     // packs + manifest objects before GC
    std::vector<GcVictim> victims;      // least recently used first
    std::uint64_t bytes_freed = 0;      // of the victims actually removed (or, dry run, would be)
    std::size_t orphan_manifests = 0;   // manifests naming no pack (removed unless dry run)
    std::vector<std::string> errors;    // removals that failed (the pack is then kept)
};

// Lists the remote and removes least recently used packs until the remote is under
// max_size and nothing is older than max_age. With neither set, only orphans go.
// Errors: a listing that fails (nothing is removed then).
Result<GcReport> gc(RemoteBackend& backend, const GcOptions& opt);

} // namespace kache::remote
