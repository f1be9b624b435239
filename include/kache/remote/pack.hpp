// kache/remote/pack.hpp — moving entries between a store and a remote.
//
// Where packs and manifest objects live on a remote: kache/remote/layout.hpp.
//
// A pack is untrusted input. unpack() streams it (never whole in memory),
// bounds every size, validates every name, checks every blob hash and that the
// blobs are exactly what the entry references, and commits nothing to the
// store unless the whole pack is good.
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/remote/layout.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace kache::remote {

// Limits applied while unpacking.
struct PackLimits {
    std::uint64_t max_entry_bytes = 1 << 20;        // the entry's text
    std::uint64_t max_blob_bytes = 8ull << 30;      // one blob
    std::uint64_t max_total_bytes = 32ull << 30;    // all blobs together
    std::uint32_t max_blobs = 4096;

    // The limits for a store capped at max_size bytes: one pack's blobs together may
    // take at most a quarter of the store (k_pack_share_of_store), one blob no more than
    // that, and never more than the defaults above. A larger entry would evict most of
    // the store for one crate; it is compiled locally instead. max_size 0 keeps the defaults.
    static PackLimits for_max_size(std::uint64_t max_size);
};

// The share of the store's max_size one pack may fill: max_size / k_pack_share_of_store.
inline constexpr std::uint64_t k_pack_share_of_store = 4;

// The largest pack file unpack() accepts under limits (what the most it may unpack to
// compresses to at worst); a download of a pack stops there.
std::uint64_t max_pack_bytes(const PackLimits& limits);

// Writes the pack of entry e (its text and every blob it references) from the
// store to dest. Returns the pack's size in bytes.
Result<std::uint64_t> pack(const store::Store& store, const store::Entry& e, const std::filesystem::path& dest,
                           int zstd_level = 3);

// Verifies the pack at src and, only if all of it is good, commits its blobs
// and its entry to the store. expected_k2 must match the entry inside.
// ErrorKind::corrupt for a bad pack (the store is then unchanged).
// When expected_k1 is given, the entry must also belong to that invocation key.
Result<store::Entry> unpack(store::Store& store, const std::filesystem::path& src, const hash::Digest& expected_k2,
                            const PackLimits& limits = {}, std::optional<hash::Digest> expected_k1 = std::nullopt);
// The same, reading the pack from fd (from its current offset, to its end).
Result<store::Entry> unpack(store::Store& store, int fd, const hash::Digest& expected_k2,
                            const PackLimits& limits = {}, std::optional<hash::Digest> expected_k1 = std::nullopt);

// The one-input-set manifest object for entry e, and reading one back.
std::string manifest_object(const key::InputSet& set);
Result<key::InputSet> parse_manifest_object(std::string_view text);

} // namespace kache::remote
