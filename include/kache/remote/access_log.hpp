// kache/remote/access_log.hpp — which packs machines used, for `kache remote gc`.
//
// Readers never write on the hit path: they record the packs they pull in memory
// (AccessRecorder::record, a set insert) and write them in batches, one object per
// machine per day:
//   v1/access/<YYYY-MM-DD>/<machine-id>    body: the K2 hex of each pack used that day,
//                                           sorted, one per line
// The daemon flushes at most every k_access_flush_interval and when it stops;
// `kache sync --pull` once at its end. A flush merges with what the machine already
// wrote that day (a restarted daemon, or sync and the daemon on one machine), and
// rewrites the object only when the set grew. The machine id is a random id kept
// in the store (<store>/machine-id, 0600), created once.
//
// Access objects are untrusted input: read back bounded (k_max_access_object_bytes)
// and parsed strictly (parse_access_body).
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/remote.hpp>
#include <kache/store.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace kache::remote {

// Where access objects live (listing prefix, relative to the backend root).
inline constexpr std::string_view k_access_root = "v1/access/";
// How often a daemon writes the uses it recorded (and at clean shutdown).
inline constexpr std::chrono::minutes k_access_flush_interval{10};
// Packs one access object lists at most; uses past it are dropped (GC then falls
// back to the pack's upload time). A line is 33 bytes: ~6.6 MB at the cap.
inline constexpr std::size_t k_max_access_entries = 200'000;
// One line: 32 hex digits and a newline.
inline constexpr std::size_t k_access_line_bytes = 33;
// The most an access object may hold when read back.
inline constexpr std::uint64_t k_max_access_object_bytes = k_max_access_entries * k_access_line_bytes;
// The machine id: 32 lowercase hex digits.
inline constexpr std::size_t k_machine_id_chars = 32;
inline constexpr std::string_view k_machine_id_file = "machine-id";

using SystemTime = std::chrono::system_clock::time_point;

// Days since 1970-01-01 UTC.
std::int64_t day_number(SystemTime t);
// "2026-12-06" for a day number, and back (nullopt unless exactly that form).
std::string day_text(std::int64_t day);
std::optional<std::int64_t> parse_day_text(std::string_view text);

// "v1/access/<YYYY-MM-DD>/<machine>", and back.
std::string access_key(std::int64_t day, std::string_view machine);
struct AccessKey {
    std::int64_t day = 0;
    std::string machine;
};
std::optional<AccessKey> parse_access_key(std::string_view key);

// The body of an access object, and back: every line must be 32 lowercase hex
// digits, at most k_max_access_entries of them (ErrorKind::corrupt otherwise).
std::string access_body(const std::set<hash::Digest>& used);
Result<std::set<hash::Digest>> parse_access_body(std::string_view text);

// Downloads and parses one access object (bounded). ErrorKind::not_found if missing.
Result<std::set<hash::Digest>> read_access(RemoteBackend& backend, const std::string& key,
                                           const std::filesystem::path& tmp_dir);

// This store's machine id, created (random, 0600) the first time.
Result<std::string> machine_id(const store::Store& store);

// Uses recorded in memory until flushed. Thread-safe.
class AccessRecorder {
public:
    // Records that pack k2 was used at now. Cheap: no I/O.
    void record(const hash::Digest& k2, SystemTime now = std::chrono::system_clock::now());
    // The K2 of a manifest object's key ("v1/manifests/..."), recorded; others ignored.
    void record_manifest_key(std::string_view manifest_key, SystemTime now = std::chrono::system_clock::now());

    // True when uses were recorded since the last successful flush.
    bool dirty() const;

    // Writes each day with new uses to access_key(day, machine), merged with what is
    // there. Days before now's are then forgotten. On failure the uses stay for the
    // next flush. Returns the number of objects written.
    Result<std::size_t> flush(RemoteBackend& backend, const std::string& machine, const std::filesystem::path& tmp_dir,
                              SystemTime now = std::chrono::system_clock::now());

private:
    mutable std::mutex mu_;
    std::map<std::int64_t, std::set<hash::Digest>> days_; // uses by day
    std::set<std::int64_t> dirty_;                        // days with uses not yet written
    std::mutex flush_mu_;                                 // one flush at a time
};

} // namespace kache::remote
