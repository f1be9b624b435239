#include <kache/size_cap.hpp>
#include <kache/store.hpp>

#include <kache/util/private_dir.hpp>

#include "sharded.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <span>

namespace kache::store {

namespace {

// The folders every store has (see DESIGN.md, "The local store").
inline constexpr std::array<const char*, 7> k_layout_dirs = {"blobs",        "manifests", "entries", "locks",
                                                              "upload-queue", "events",    "tmp"};


// Hardlinks src at dest and keeps the link only if the placement policy allows it (the
// count is taken after linking, so two restores racing to link one blob both see the
// other and both fall back to a copy). dest is unlinked first: a dest that already is
// the blob's inode (this tree restoring again) counts once, not twice.
bool link_if_private(const fs::path& src, const fs::path& dest, std::uint32_t mode) {
    ::unlink(dest.c_str());
    if (::link(src.c_str(), dest.c_str()) != 0) return false;
    struct stat st {};
    if (::lstat(dest.c_str(), &st) == 0 && may_keep_link(st.st_nlink, st.st_mode, mode)) return true;
    ::unlink(dest.c_str());
    return false;
}

// Bytes read at a time when nobody observes the hash (the size of_file reads too).
inline constexpr std::size_t k_hash_chunk_bytes = 1 << 17;

// The digest of the staged file, each chunk read once: into observe's buffer when there
// is an observer (which then sees exactly the bytes hashed), else into a local one.
Result<hash::Digest> hash_staged(const fs::path& staged, ChunkObserver* observe) {
    auto owner = util::open_regular(staged);
    if (!owner) return std::unexpected(owner.error());
    alignas(64) static thread_local char own[k_hash_chunk_bytes];
    hash::Hasher h;
    while (true) {
        std::span<char> buf = observe ? observe->next_buffer() : std::span<char>(own, sizeof own);
        ssize_t n = ::read(owner->get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "cannot read " + staged.string() + ": " + std::strerror(errno));
        // Hashed before the observer sees it: arrived() may reuse its buffer.
        h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        if (observe) observe->arrived(static_cast<std::size_t>(n));
        if (n == 0) break;
    }
    return h.finish();
}

} // namespace

Result<Store> Store::open(const fs::path& root) {
    if (root.empty() || !root.is_absolute())
        return fail(ErrorKind::config, "cache directory '" + root.string() + "' is not an absolute path");
    // The one check on the hit path: a single lstat of the root, which must be private.
    auto dir = util::check_private_dir(root, true);
    if (!dir) return fail(dir.error().kind, "unusable cache directory: " + dir.error().message);
    // Fast path: a root with a subdirectory link for each layout folder has its layout
    // (filesystems that do not count them, such as btrfs, pay one access() instead).
    if (!dir->created && (dir->st.st_nlink >= 2 + k_layout_dirs.size() || ::access((root / "tmp").c_str(), W_OK) == 0))
        return Store(root);
    for (const char* sub : k_layout_dirs) {
        if (auto r = util::make_private_dirs(root / sub); !r)
            return fail(ErrorKind::io, "cannot create the cache at " + root.string() + ": " + r.error().message);
    }
    if (::access((root / "tmp").c_str(), W_OK) != 0)
        return fail(ErrorKind::io, "the cache directory " + root.string() + " is not writable");
    init_size_counter(Store(root));
    return Store(root);
}

fs::path Store::blob_path(const hash::Digest& d) const { return hash::sharded_path(root_, "blobs", d); }
fs::path Store::entry_path(const hash::Digest& k2) const { return hash::sharded_path(root_, "entries", k2); }
fs::path Store::manifest_path(const hash::Digest& k1) const { return hash::sharded_path(root_, "manifests", k1); }
fs::path Store::lock_path(const hash::Digest& k1) const { return root_ / "locks" / k1.hex(); }

Result<Manifest> Store::read_manifest(const hash::Digest& k1) const {
    auto text = util::read_file_bounded(manifest_path(k1), k_max_manifest_bytes);
    if (!text) return std::unexpected(text.error());
    return parse_manifest(*text);
}

Result<void> Store::write_manifest(const hash::Digest& k1, const Manifest& m) {
    fs::path p = manifest_path(k1);
    std::string text = serialize_manifest(m);
    return util::make_parent_and_retry(p, [&] { return util::write_file_atomic(p, text, tmp_dir()); });
}

Result<void> Store::add_input_set(const hash::Digest& k1, const key::InputSet& set, std::size_t max_sets) {
    Manifest m;
    if (auto existing = read_manifest(k1)) m = std::move(*existing);
    // A corrupt or missing manifest is simply replaced.
    std::erase_if(m.sets, [&](const key::InputSet& s) { return s == set; });
    m.sets.insert(m.sets.begin(), set);
    if (m.sets.size() > max_sets) m.sets.resize(max_sets);
    return write_manifest(k1, m);
}

Result<Entry> Store::read_entry(const hash::Digest& k2) const {
    auto text = util::read_file_bounded(entry_path(k2), k_max_entry_bytes);
    if (!text) return std::unexpected(text.error());
    auto e = parse_entry(*text);
    if (e && e->k2 != k2) return fail(ErrorKind::corrupt, "entry " + k2.hex() + " names another key");
    return e;
}

Result<void> Store::write_entry(const Entry& e) {
    fs::path p = entry_path(e.k2);
    std::string text = serialize_entry(e);
    return util::make_parent_and_retry(p, [&] { return util::write_file_atomic(p, text, tmp_dir()); });
}

bool Store::has_entry(const hash::Digest& k2) const { return ::access(entry_path(k2).c_str(), F_OK) == 0; }

Result<void> Store::remove_entry(const hash::Digest& k2) {
    if (::unlink(entry_path(k2).c_str()) != 0 && errno != ENOENT)
        return fail(ErrorKind::io, "cannot remove entry " + k2.hex() + ": " + std::strerror(errno));
    return ok();
}

bool Store::has_blob(const hash::Digest& d) const { return ::access(blob_path(d).c_str(), F_OK) == 0; }

bool Store::holds(const fs::path& blob, const hash::Digest& d) const {
    // Deduplication trusts a blob only if it still holds its bytes: one that rotted or
    // was written through a link is replaced, or the corruption would be served again
    // to every later hit. The stat-keyed cache makes this free for a blob untouched
    // since it was last hashed.
    hash::FileHashCache digests(hash_cache_dir(), tmp_dir());
    auto have = digests.digest(blob, /*ignore_ctime=*/true);
    return have && *have == d;
}

Result<hash::Digest> Store::put_blob_file(const fs::path& src, Placement how) {
    auto put = put_blob_file(src, how, nullptr);
    if (!put) return std::unexpected(put.error());
    return put->digest;
}

Result<PutBlob> Store::put_blob_file(const fs::path& src, Placement how, ChunkObserver* observe) {
    // Stage a private copy (or link) first and hash *that*, so the digest
    // describes exactly the bytes that land in the store.
    fs::path staged = tmp_dir() / (".in." + std::to_string(::getpid()) + "." + std::to_string(util::now_ns()));
    bool linked = false;
    if (how == Placement::allow_link && ::link(src.c_str(), staged.c_str()) == 0) linked = true;
    if (!linked && !util::reflink_file(src, staged, util::k_private_read_only_mode)) {
        if (auto r = util::copy_file(src, staged, util::k_private_read_only_mode); !r) {
            ::unlink(staged.c_str());
            return std::unexpected(r.error());
        }
    }
    auto d = hash_staged(staged, observe);
    if (!d) {
        ::unlink(staged.c_str());
        return std::unexpected(d.error());
    }
    fs::path dest = blob_path(*d);
    if (::access(dest.c_str(), F_OK) == 0 && holds(dest, *d)) { // deduplicated (else replaced below)
        ::unlink(staged.c_str());
        return PutBlob{*d, false};
    }
    // A linked blob keeps the output's mode: rustc refuses to compile over an output
    // without write bits ("output file ... is not writeable"), and it replaces outputs
    // rather than writing through them. Any other write through the link changes the
    // blob's stamp, and a restore then rehashes it (verify_blobs).
    if (!linked) ::chmod(staged.c_str(), util::k_private_read_only_mode);
    auto renamed = util::make_parent_and_retry(dest, [&]() -> Result<void> {
        if (::rename(staged.c_str(), dest.c_str()) != 0)
            return fail(errno == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                        "cannot store blob " + dest.string() + ": " + std::strerror(errno));
        return ok();
    });
    if (!renamed) {
        ::unlink(staged.c_str());
        return std::unexpected(renamed.error());
    }
    return PutBlob{*d, linked};
}

Result<hash::Digest> Store::put_blob(std::string_view data) {
    hash::Digest d = hash::of(data);
    fs::path dest = blob_path(d);
    if (::access(dest.c_str(), F_OK) == 0 && holds(dest, d)) return d; // else replaced below
    auto r = util::make_parent_and_retry(dest, [&] { return util::write_file_atomic(dest, data, tmp_dir(), util::k_private_read_only_mode); });
    if (!r) return std::unexpected(r.error());
    return d;
}

Result<std::string> Store::read_blob(const hash::Digest& d, std::uint64_t max_bytes) const {
    auto data = util::read_file_bounded(blob_path(d), max_bytes);
    if (!data) return data;
    if (hash::of(*data) != d) {
        ::unlink(blob_path(d).c_str());
        return fail(ErrorKind::corrupt, "blob " + d.hex() + " is corrupt (removed)");
    }
    return data;
}

Placement placement_for(std::string_view output_name) {
    // rustc replaces every output it writes rather than writing through it: an rlib or
    // rmeta is renamed into place, an executable or dylib is written by the linker,
    // which unlinks the old file first (test_linked_outputs rebuilds over each kind).
    // may_keep_link keeps the inode in one tree. The dep-info alone is rewritten per
    // tree (sentinel paths).
    return output_name.ends_with(".d") ? Placement::copy_only : Placement::allow_link;
}

Result<const char*> Store::restore_file(const hash::Digest& d, const fs::path& dest, std::uint32_t mode,
                                        Placement how) const {
    fs::path src = blob_path(d);
    const char* via = nullptr;
    // A store on a filesystem without reflinks (ext4) remembers that once,
    // instead of paying a failed clone attempt for every restored file.
    // Asked once per process and store: an entry restores several files.
    static thread_local std::string known_no_reflink;
    fs::path no_reflink = root_ / "no-reflink";
    if (known_no_reflink != no_reflink.native()) {
        if (::access(no_reflink.c_str(), F_OK) == 0) known_no_reflink = no_reflink.native();
        else if (util::reflink_file(src, dest, mode)) via = "reflink";
        else if (int fd = ::open(no_reflink.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, util::k_private_file_mode); fd >= 0) ::close(fd);
    }
    if (!via && how == Placement::allow_link && link_if_private(src, dest, mode)) via = "link";
    if (!via) {
        if (auto r = util::copy_file(src, dest, mode); !r) return std::unexpected(r.error());
        via = "copy";
    }
    // A fresh mtime makes cargo see the output as newer than its inputs.
    if (auto r = util::touch_now(dest); !r) return std::unexpected(r.error());
    return via;
}

Result<util::FileLock> Store::lock_key(const hash::Digest& k1, std::chrono::milliseconds timeout) const {
    fs::path p = lock_path(k1);
    return util::make_parent_and_retry(p, [&] { return util::FileLock::acquire(p, timeout); });
}

void Store::set_origin(const hash::Digest& k2, std::string_view origin) const {
    fs::path p = root_ / "origin" / k2.hex();
    (void)util::make_parent_and_retry(p, [&] { return util::write_file_atomic(p, origin, tmp_dir()); });
}

std::string Store::take_origin(const hash::Digest& k2) const {
    fs::path p = root_ / "origin" / k2.hex();
    auto text = util::read_file_bounded(p, 64);
    if (!text) return "";
    ::unlink(p.c_str());
    return *text == "remote" || *text == "prefetched" ? *text : "";
}

using detail::for_each_sharded;

std::vector<Entry> Store::list_entries() const {
    std::vector<Entry> out;
    for_each_sharded(root_ / "entries", [&](const fs::directory_entry& f) {
        auto text = util::read_file_bounded(f.path(), k_max_entry_bytes);
        if (!text) return;
        if (auto e = parse_entry(*text)) out.push_back(std::move(*e));
    });
    return out;
}

Usage Store::usage() const {
    Usage u;
    for_each_sharded(root_ / "blobs", [&](const fs::directory_entry& f) {
        std::error_code ec;
        auto size = f.file_size(ec);
        if (!ec) {
            u.blob_bytes += size;
            ++u.blobs;
        }
    });
    for_each_sharded(root_ / "entries", [&](const fs::directory_entry&) { ++u.entries; });
    for_each_sharded(root_ / "manifests", [&](const fs::directory_entry&) { ++u.manifests; });
    return u;
}

Result<void> Store::purge_all() {
    for (const char* sub : {"blobs", "manifests", "entries", "locks", "hashcache", "toolchains"}) {
        std::error_code ec;
        fs::path p = root_ / sub;
        if (!fs::exists(p, ec)) continue;
        // Move aside first so concurrent readers see either the old store or none.
        fs::path aside = tmp_dir() / (std::string(".purge.") + sub + "." + std::to_string(util::now_ns()));
        fs::rename(p, aside, ec);
        if (ec) return fail(ErrorKind::io, "cannot purge " + p.string() + ": " + ec.message());
        fs::remove_all(aside, ec);
        if (auto r = util::make_private_dirs(p); !r) return r;
    }
    return ok();
}

} // namespace kache::store
