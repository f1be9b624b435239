// kache/store.hpp — the local content-addressed store.
//
//   auto store = kache::store::Store::open(dir);     // creates the layout
//   auto m = store->read_manifest(k1);               // input sets seen for K1
//   auto e = store->read_entry(k2);                  // outputs, stdout, stderr
//   store->restore_file(blob, dest, mode, how);      // reflink / private hardlink / copy
//
// Layout (DESIGN.md): blobs/ab/<hash> (read-only, immutable), manifests/ab/<K1>,
// entries/ab/<K2>, locks/<K1>, upload-queue/<K2> (upload intents), origin/<K2> (entries
// the daemon imported), events/, hashcache/, toolchains/, tmp/, the marker file
// no-reflink, and scrub-position (where the daemon's blob scrub got to). Every write lands by write-to-tmp + rename, so a reader never sees a
// partial file.
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/key.hpp>
#include <kache/util/fs.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::store {

namespace fs = std::filesystem;

// One output file of an entry, restored into the invocation's out-dir.
struct OutputFile {
    std::string name;      // a plain file name (validated: no '/', not "." or "..")
    hash::Digest blob;     // content digest
    std::uint64_t size = 0;
    std::uint32_t mode = 0644;
    bool dep_info = false; // stored with sentinel paths; rewritten for this checkout on restore
};

// What one compile produced: its outputs, stdout and stderr, and bookkeeping.
struct Entry {
    std::string crate;
    std::string version;               // CARGO_PKG_VERSION, "" if unknown
    hash::Digest k1;
    hash::Digest k2;
    std::vector<OutputFile> outputs;
    std::optional<hash::Digest> stdout_blob; // normalized text
    std::optional<hash::Digest> stderr_blob; // normalized text
    std::int64_t created_ms = 0;
    std::int64_t compile_ms = 0;       // how long the real compile took (time a hit saves)
    int exit_code = 0;                 // non-zero only for recorded probe failures (no outputs)

    std::uint64_t total_size() const;
    // Every blob the entry names: outputs, then stdout and stderr.
    std::vector<hash::Digest> blobs() const;
};

// The input sets recorded under one invocation key, newest first.
struct Manifest {
    std::vector<key::InputSet> sets;
};

// Text forms (also the payload of remote manifests and packs). Parsing treats
// the text as untrusted: ErrorKind::corrupt on anything malformed.
std::string serialize_entry(const Entry& e);
Result<Entry> parse_entry(std::string_view text);
std::string serialize_manifest(const Manifest& m);
Result<Manifest> parse_manifest(std::string_view text);
// True if name is safe to create inside an out-dir.
bool valid_output_name(std::string_view name);

// The placement policy: how an output and its blob may share an inode. Decided here and
// nowhere else (DESIGN.md, "The local store"):
//   - placement_for: which outputs may be hardlinked at all (the wrapper asks it on
//     record and on restore). Linking another kind of output is a change there.
//   - may_keep_link: no two target dirs ever share an inode, because a restore sets a
//     fresh mtime and that would move the file in every tree holding the inode. The
//     first tree may link the blob itself; a blob already linked elsewhere is placed
//     as a private inode (reflink, else copy) before its mtime is set.
// A restore tries reflink (always private), then a hardlink kept only when
// may_keep_link allows it, then a copy.

// How restore_file may place a blob at its destination.
enum class Placement {
    copy_only,  // the dep-info, rewritten per tree
    allow_link, // outputs rustc replaces (rlib, rmeta, executables, dylibs): a hardlink is fine in one tree
};

// The placement an output file (by name) allows.
Placement placement_for(std::string_view output_name);

// Whether a restore may keep dest as a hardlink of the blob, given the link count of
// the inode just after linking it at dest, its mode bits and the mode the output needs:
// only if the store's name and dest are its only names (any other name is another
// target dir, or a racing restore that linked at the same time: both then copy), and
// the shared mode is the one wanted: the owner's write bit and the exec bits (a
// read-only blob linked into a tree would stop rustc's next compile of that unit there).
constexpr bool may_keep_link(std::uint64_t nlink_after_link, std::uint32_t inode_mode, std::uint32_t wanted_mode) {
    constexpr std::uint64_t k_store_and_dest = 2;
    constexpr std::uint32_t k_owner_write_and_exec = 0311;
    return nlink_after_link <= k_store_and_dest &&
           (inode_mode & k_owner_write_and_exec) == (wanted_mode & k_owner_write_and_exec);
}

// Sizes for `kache stats` and GC.
struct Usage {
    std::uint64_t blob_bytes = 0;
    std::uint64_t blobs = 0;
    std::uint64_t entries = 0;
    std::uint64_t manifests = 0;
};

// Bounds on reading a store text file; a larger one is corrupt.
inline constexpr std::uint64_t k_max_entry_bytes = 16 << 20;
inline constexpr std::uint64_t k_max_manifest_bytes = 64 << 20;

// What a garbage collection did.
struct GcReport {
    std::uint64_t entries_removed = 0;
    std::uint64_t corrupt_removed = 0; // entries and manifests that did not parse
    std::uint64_t blobs_removed = 0;
    std::uint64_t bytes_freed = 0;
    std::uint64_t temp_files_removed = 0;
    std::uint64_t bytes_after = 0;
};

// Sees a file's bytes while put_blob_file hashes them, in the same read (the wrapper's
// raw-path scan), so recording reads each output once: the store reads every chunk
// into the observer's buffer, hashes it there, then reports it.
class ChunkObserver {
public:
    virtual ~ChunkObserver() = default;
    // Where the next chunk is read to; never empty.
    virtual std::span<char> next_buffer() = 0;
    // n bytes were read into the buffer last returned, and hashed already (the observer may
    // reuse its buffer now); n == 0 once, at the end of the file.
    virtual void arrived(std::size_t n) = 0;
};

// What put_blob_file stored: the digest, and whether the blob is src's own inode (a link
// kept), so a caller knows both names share one stamp.
struct PutBlob {
    hash::Digest digest;
    bool linked = false;
};

class Store {
public:
    // Opens (creating if needed) the store rooted at root.
    static Result<Store> open(const fs::path& root);

    const fs::path& root() const noexcept { return root_; }
    fs::path blob_path(const hash::Digest& d) const;
    fs::path entry_path(const hash::Digest& k2) const;
    fs::path manifest_path(const hash::Digest& k1) const;
    fs::path lock_path(const hash::Digest& k1) const;
    fs::path tmp_dir() const { return root_ / "tmp"; }
    fs::path events_dir() const { return root_ / "events"; }
    fs::path hash_cache_dir() const { return root_ / "hashcache"; }
    // Per-K1 stamps of the input set last verified (key::SetMemo).
    fs::path seen_dir() const { return root_ / "seen"; }
    fs::path toolchain_dir() const { return root_ / "toolchains"; }

    // Manifest of k1; ErrorKind::not_found if none.
    Result<Manifest> read_manifest(const hash::Digest& k1) const;
    // Adds set in front of k1's manifest (dropping an equal older one), keeping at
    // most max_sets. Callers hold k1's lock, so concurrent writers do not lose sets.
    Result<void> add_input_set(const hash::Digest& k1, const key::InputSet& set, std::size_t max_sets = 32);
    // The input set in k1's manifest that produced entry k2 (result_key(k1, set) == k2);
    // nullopt when the manifest is missing or no longer lists it (the cap keeps the newest).
    std::optional<key::InputSet> input_set_of(const hash::Digest& k1, const hash::Digest& k2) const;

    // Entry of k2; ErrorKind::not_found if none, ErrorKind::corrupt if unreadable.
    Result<Entry> read_entry(const hash::Digest& k2) const;
    Result<void> write_entry(const Entry& e);
    bool has_entry(const hash::Digest& k2) const;
    // Removes an entry (its blobs stay until GC finds them unreferenced).
    Result<void> remove_entry(const hash::Digest& k2);

    // Stores the file at src as a blob and returns its digest. With allow_link the
    // blob may share the file's inode (the file must then never be written in place).
    Result<hash::Digest> put_blob_file(const fs::path& src, Placement how);
    // The same, showing the bytes hashed to observe (if not null) as they are read.
    Result<PutBlob> put_blob_file(const fs::path& src, Placement how, ChunkObserver* observe);
    // Stores bytes as a blob.
    Result<hash::Digest> put_blob(std::string_view data);
    // True when the blob file at path still holds the bytes named d (for deduplication).
    bool holds(const fs::path& blob, const hash::Digest& d) const;
    bool has_blob(const hash::Digest& d) const;
    // Reads a blob whole (at most max_bytes), verifying its digest; a corrupt
    // blob is removed and ErrorKind::corrupt returned.
    Result<std::string> read_blob(const hash::Digest& d, std::uint64_t max_bytes = 256 << 20) const;
    // Places blob d at dest with mode by the placement policy above: reflink, else a
    // hardlink (if how allows it and no other tree holds the blob's inode), else a copy;
    // dest gets a fresh mtime. Returns how it was placed ("reflink", "link", "copy").
    Result<const char*> restore_file(const hash::Digest& d, const fs::path& dest, std::uint32_t mode,
                                     Placement how) const;

    // Takes the per-K1 build lock (waiting up to timeout).
    Result<util::FileLock> lock_key(const hash::Digest& k1, std::chrono::milliseconds timeout) const;

    // Every entry (for `kache list`, `purge --crate`, GC). Unreadable entries are skipped.
    std::vector<Entry> list_entries() const;
    Usage usage() const;
    // Removes everything in the store except its configuration-free skeleton.
    Result<void> purge_all();

    // Marks an entry as just used (its file's mtime), for least-recent-use GC.
    void touch_entry(const hash::Digest& k2) const;

    // Where an entry came from when the daemon imported it ("remote" or
    // "prefetched"); read and cleared by the first hit, so later hits are local.
    void set_origin(const hash::Digest& k2, std::string_view origin) const;
    std::string take_origin(const hash::Digest& k2) const;

    // Upload intents: durable files naming entries the daemon must upload.
    Result<void> add_upload_intent(const hash::Digest& k2) const;
    void remove_upload_intent(const hash::Digest& k2) const;
    std::vector<hash::Digest> upload_intents() const;
    // Removes intent files that cannot be read as one (a name that is no digest, content
    // that does not repeat it, not a regular file) and says, per file, why: the daemon logs it.
    std::vector<std::string> remove_unparseable_intents() const;

    // Keeps the store under max_bytes: removes least-recently-used entries (never
    // one an upload intent names), then blobs no entry references (once no writer may
    // still be recording them, at most an hour) and temp files whose writer is gone
    // (its flock released, the pid in its name dead) or older than an hour.
    // With max_age_ns > 0, entries not used for that long go too (`kache gc --max-age`).
    Result<GcReport> gc(std::uint64_t max_bytes, std::int64_t max_age_ns = 0);

private:
    explicit Store(fs::path root) : root_(std::move(root)) {}
    fs::path upload_queue_dir() const;
    Result<void> write_manifest(const hash::Digest& k1, const Manifest& m);
    fs::path root_;
};

// ---- Integrity checks (`kache doctor`, the daemon's scrub): lib/store/verify.cpp ----

// One problem a check found: what is wrong, and the command or action that fixes it.
struct Problem {
    std::string what;
    std::string fix;
    bool repaired = false; // the repair removed the corrupt file
};

struct CheckOptions {
    bool verify_blobs = false; // re-read every blob and compare its content with its name (slow)
    bool repair = false;       // remove what is corrupt, and entries that name a missing or corrupt blob
    // Called as work proceeds (check name, items done, items in this check, bytes read so far).
    std::function<void(std::string_view, std::uint64_t, std::uint64_t, std::uint64_t)> progress;
};

struct CheckReport {
    std::uint64_t blobs_read = 0;
    std::uint64_t bytes_read = 0;
    std::uint64_t entries = 0;
    std::uint64_t manifests = 0;
    std::vector<Problem> problems;
    std::vector<hash::Digest> bad_blobs; // found corrupt (or not a regular file) by this run
};

// One check of the store: its name, whether it is slow (only with verify_blobs), and its work.
struct StoreCheck {
    const char* name;
    bool slow;
    void (*run)(Store& store, const CheckOptions& opt, CheckReport& report);
};

// The store's checks in the order they run: blobs (slow) first, so that entries naming a
// blob that was just found corrupt are reported (and, with repair, removed) too.
const std::vector<StoreCheck>& store_checks();

// Runs every check that opt selects and returns what they found.
CheckReport check_store(Store& store, const CheckOptions& opt);

// Whether a blob's bytes still hash to its name. on_chunk(bytes) runs after each chunk read
// and may return false to stop early (ErrorKind::timeout then). ErrorKind::not_found if
// the blob is gone; ErrorKind::corrupt if it is not a regular file.
Result<bool> blob_is_intact(const Store& store, const hash::Digest& d,
                            const std::function<bool(std::uint64_t)>& on_chunk = {});

// Removes a blob found corrupt and every entry that names it, so it is never served and
// the crates recompile. Returns the crates whose entries went.
std::vector<std::string> remove_corrupt_blob(Store& store, const hash::Digest& d);

} // namespace kache::store
