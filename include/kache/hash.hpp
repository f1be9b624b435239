// kache/hash.hpp — XXH3-128 digests, a streaming hasher, and a stat-keyed
// cache of file digests.
//
//   kache::hash::Hasher h;
//   h.update("recipe-v1");
//   kache::hash::Digest d = h.finish();
//   std::string hex = d.hex();           // 32 lowercase hex digits
#pragma once

#include <kache/error.hpp>
#include <kache/util/fs.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::hash {

// A 128-bit content digest. Value type; ordered and hashable by its bytes.
struct Digest {
    std::array<std::uint8_t, 16> bytes{};

    // 32 lowercase hex digits.
    std::string hex() const;
    // Parses 32 hex digits; nullopt if s is not exactly that.
    static std::optional<Digest> from_hex(std::string_view s);
    bool operator==(const Digest&) const = default;
    auto operator<=>(const Digest&) const = default;
};

// Streaming XXH3-128. Feed bytes with update(); finish() may be called once.
class Hasher {
public:
    Hasher();
    ~Hasher();
    Hasher(const Hasher&) = delete;
    Hasher& operator=(const Hasher&) = delete;

    Hasher& update(std::string_view data);
    // Hashes a length-prefixed field, so ("ab","c") and ("a","bc") differ.
    Hasher& field(std::string_view data);
    Hasher& field(std::uint64_t value);
    Hasher& field(const Digest& d);
    Digest finish();

private:
    struct State;
    std::unique_ptr<State> state_;
};

// One-shot digest of a byte string.
Digest of(std::string_view data);

// <root>/<folder>/ab/<rest of d's hex> (folder may be empty): the store's sharded
// layout, built as one string because path's operator/ re-splits at every step.
std::filesystem::path sharded_path(const std::filesystem::path& root, std::string_view folder, const Digest& d);

// Streams a file through XXH3-128. ErrorKind::not_found if it does not exist.
Result<Digest> of_file(const std::filesystem::path& path);

// Digest of the file at path, reusing a digest recorded for the same stat
// stamp (size, mtime, ctime, inode, device) when there is one. Entries live as
// tiny files under `dir`, one per inode; a missing, torn or unreadable entry
// only costs a rehash.
class FileHashCache {
public:
    // A file whose mtime or ctime is this close to now may still change without
    // its stamp moving (coarse timestamps): it is hashed but not remembered.
    static constexpr std::chrono::nanoseconds k_racy_window = std::chrono::seconds(2);

    // dir: where entries live (created on first write); tmp: staging dir for atomic
    // writes; racy_window: k_racy_window but in tests.
    FileHashCache(std::filesystem::path dir, std::filesystem::path tmp,
                  std::chrono::nanoseconds racy_window = k_racy_window);

    // The digest of the file at path (absolute), via the cache when the stamp matches.
    // ignore_ctime: for store blobs only, whose ctime moves whenever a hardlinked
    // output is created or removed (`cargo clean`); size, mtime and inode still
    // have to match, and blobs are read-only files nobody writes in place.
    Result<Digest> digest(const std::filesystem::path& path, bool ignore_ctime = false);

    // digest(path), plus the stamp the file had before it was read (so a caller
    // can tell later whether the file changed since).
    struct Stamped {
        Digest digest;
        util::FileStamp stamp;
    };
    Result<Stamped> digest_stamped(const std::filesystem::path& path);

    // The digest of path's contents as they are under stamp st (taken by the caller):
    // ErrorKind::conflict when the file was read and no longer had that stamp (a write
    // between the stat and the read would otherwise pair new bytes with the old stamp,
    // which then passes for "unchanged since before the compile").
    Result<Digest> digest_under(const std::filesystem::path& path, const util::FileStamp& st,
                                bool ignore_ctime = false);

    // Records that the file at path, as it is now, has digest d (used right after
    // kache itself wrote the file, so the digest is known without reading it).
    void remember(const std::filesystem::path& path, const Digest& d);

    // Files smaller than this are hashed directly: reading them costs less than a lookup.
    static constexpr std::uint64_t k_min_cached_size = 64 * 1024;

    // The digest this process already trusts for a file with exactly this stamp
    // (hashed here, last changed before the racy window); nullptr if none.
    const Digest* known(const util::FileStamp& st) const;

private:
    std::filesystem::path entry_path(const util::FileStamp& st) const;
    void store(const util::FileStamp& st, const Digest& d);
    // Digests already trusted in this process, by stamp: a file the key and an
    // input set both name (an rlib a link reads) is read once. Each look-up still
    // stats the file; only an identical stamp (device, inode, size, mtime, ctime)
    // of a file last changed before the racy window answers from here.
    struct Known {
        util::FileStamp stamp;
        Digest digest;
    };
    void learn(const util::FileStamp& st, const Digest& d);
    std::vector<Known> known_;
    std::filesystem::path dir_;
    std::filesystem::path tmp_;
    std::int64_t racy_window_ns_;
};

} // namespace kache::hash
