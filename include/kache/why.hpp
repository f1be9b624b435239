// kache/why.hpp — what `kache why-miss` needs kept in the store, and the comparison.
//
// On a miss the wrapper overwrites why/miss/<unit> with the miss's K1 components (and
// its input set when the compile was recorded); at record time it writes
// why/recorded/<unit>/<K1> once per invocation key. `why-miss` compares the latest
// miss with the nearest recorded one (fewest differing components) and names what
// differs in the user's terms. Every file read here is untrusted: bounded, validated,
// and a malformed one is "no information", never an error that stops the command.
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/key.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::why {

// Largest why file written or read; a larger compile is simply not explained.
inline constexpr std::uint64_t k_max_record_bytes = 4 << 20;
// Longest package, crate or kind name accepted in a file name.
inline constexpr std::size_t k_max_name_chars = 128;
// Recorded files kept per unit at most (the oldest go first at prune).
inline constexpr std::size_t k_max_recorded_per_unit = 64;
// Misses of other units of the same crate shown with the latest, when this close to it.
inline constexpr std::int64_t k_same_build_ms = 120 * 1000;

// One compilation unit of a package: the crate and what kind of unit it is
// ("lib", "bin", "proc-macro", "test", "build-script", ...).
struct Unit {
    std::string package;
    std::string crate;
    std::string kind;
    std::string id() const; // "<package>.<crate>.<kind>": a file name
    bool operator==(const Unit&) const = default;
};

// A package, crate or kind name safe to use in a file name ([A-Za-z0-9_+-], bounded).
bool valid_name(std::string_view name);

// What one invocation's key was made of.
struct Record {
    Unit unit;
    hash::Digest k1;
    std::optional<hash::Digest> k2;         // the entry a miss recorded
    std::int64_t time_ms = 0;
    std::vector<key::Root> roots;           // this checkout's roots, to print paths (misses)
    std::vector<std::string> rustflags;     // the words cargo took from RUSTFLAGS
    std::vector<key::Component> components; // K1's, in key order
    std::optional<key::InputSet> inputs;    // the compile's input set, when recorded (misses)
    std::string note;                       // why the input set is unknown
};

std::string serialize(const Record& r);
// ErrorKind::corrupt on anything malformed.
Result<Record> parse(std::string_view text);

std::filesystem::path miss_path(const store::Store& s, const Unit& u);
std::filesystem::path recorded_path(const store::Store& s, const Unit& u, const hash::Digest& k1);

// Overwrites the unit's latest miss (private mode, by rename).
Result<void> write_miss(const store::Store& s, const Record& r);
// Keeps the components of a recorded invocation key; a key already kept is left alone.
Result<void> write_recorded(const store::Store& s, const Record& r);

// The latest miss of every unit of `crate` (a package or crate name; '-' and '_'
// alike), newest first. Unreadable files are skipped.
std::vector<Record> latest_misses(const store::Store& s, std::string_view crate);
// Every recorded key of a unit. Unreadable files are skipped.
std::vector<Record> recorded(const store::Store& s, const Unit& u);
// True if anything of `crate` was recorded or missed.
bool known_crate(const store::Store& s, std::string_view crate);

// Drops recorded files whose manifest is gone and keeps each unit's count bounded
// (GC calls it).
void prune(const store::Store& s);

// ---- the comparison (lib/store/why_diff.cpp)

struct Explanation {
    bool never_built = false;            // nothing of the unit recorded before the miss
    std::optional<std::int64_t> nearest_ms; // when the nearest one was recorded
    std::vector<std::string> changes;    // one line each, in the user's terms
};

// Compares a miss with the nearest recorded key of its unit.
Explanation explain(const store::Store& s, const Record& miss);

// True for a variable whose value must not be printed (KEY, SECRET, TOKEN, PASSWORD).
bool is_secret_name(std::string_view name);

} // namespace kache::why
