// The store's integrity checks, as `kache doctor` runs them and the daemon's scrub uses
// them: blobs re-read and compared with their names (slow: the wrapper trusts the
// stat-keyed hash cache, so bit rot that keeps a blob's size and mtime is found only
// here), entries and manifests parsed, and every blob an entry names present.
#include <kache/store.hpp>

#include "sharded.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>

namespace kache::store {

namespace {

// Blobs are read in chunks this size, so a caller can pace (the scrub) or stop.
constexpr std::size_t k_chunk_bytes = 1 << 20;

const char* k_repair_fix = "run `kache doctor --verify --repair`";

// Sorted files two levels below dir (the sharded layout), with what their names spell.
struct ShardedFile {
    fs::path path;
    std::string name; // shard + file name: a digest's hex when the file belongs there
};

std::vector<ShardedFile> sharded_files(const fs::path& dir) {
    std::vector<ShardedFile> out;
    detail::for_each_sharded(dir, [&](const fs::directory_entry& f) {
        out.push_back({f.path(), f.path().parent_path().filename().string() + f.path().filename().string()});
    });
    std::sort(out.begin(), out.end(), [](const ShardedFile& a, const ShardedFile& b) { return a.name < b.name; });
    return out;
}

bool is_regular_nofollow(const fs::path& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void add(CheckReport& r, std::string what, std::string fix, bool repaired) {
    r.problems.push_back({std::move(what), std::move(fix), repaired});
}

// Removes path for a repair; true if it is gone.
bool remove_file(const fs::path& p) {
    if (::unlink(p.c_str()) == 0 || errno == ENOENT) return true;
    std::error_code ec;
    return fs::remove_all(p, ec) > 0 && !ec; // a directory where a file belongs
}

// Reads an entry or manifest file through read (given the key its name spells). One that
// is not a regular file, whose name is not a key, or that does not parse is reported, and
// removed under --repair; empty then, and when GC removed the file meanwhile.
template <class T, class Read>
std::optional<T> read_or_report(const ShardedFile& f, const char* what, const char* repaired_fix,
                                const CheckOptions& opt, CheckReport& r, Read read) {
    auto key = hash::Digest::from_hex(f.name);
    Result<T> v = key ? (is_regular_nofollow(f.path) ? read(*key) : fail(ErrorKind::corrupt, "not a regular file"))
                      : fail(ErrorKind::corrupt, "its file name is not a key");
    if (v) return std::move(*v);
    if (v.error().kind == ErrorKind::not_found) return std::nullopt; // removed meanwhile (GC)
    bool gone = opt.repair && remove_file(f.path);
    add(r, std::string(what) + " " + f.path.string() + " is unreadable: " + v.error().message,
        opt.repair ? repaired_fix : k_repair_fix, gone);
    return std::nullopt;
}

void check_blobs(Store& store, const CheckOptions& opt, CheckReport& r) {
    auto files = sharded_files(store.root() / "blobs");
    std::uint64_t done = 0;
    for (auto& f : files) {
        if (opt.progress) opt.progress("blobs", done, files.size(), r.bytes_read);
        ++done;
        auto d = hash::Digest::from_hex(f.name);
        if (!d) {
            bool gone = opt.repair && remove_file(f.path);
            add(r, "unexpected file " + f.path.string() + " among the blobs", opt.repair ? "remove it" : k_repair_fix, gone);
            continue;
        }
        ++r.blobs_read;
        auto intact = blob_is_intact(store, *d, [&](std::uint64_t n) {
            r.bytes_read += n;
            if (opt.progress) opt.progress("blobs", done, files.size(), r.bytes_read);
            return true;
        });
        if (!intact && intact.error().kind == ErrorKind::not_found) continue; // removed meanwhile (GC)
        if (intact && *intact) continue;
        if (!intact && intact.error().kind != ErrorKind::corrupt) {
            add(r, "cannot read blob " + d->hex() + ": " + intact.error().message,
                "check the permissions of " + store.root().string(), false);
            continue;
        }
        r.bad_blobs.push_back(*d);
        bool gone = opt.repair && remove_file(f.path);
        std::string why = intact ? "its content does not match its name (bit rot, or a write through a link)"
                                 : intact.error().message;
        add(r, "blob " + d->hex() + " is corrupt: " + why,
            opt.repair ? "removed; the crates that use it recompile" : k_repair_fix + std::string(" (the crates that use it then recompile)"),
            gone);
    }
}

void check_entries(Store& store, const CheckOptions& opt, CheckReport& r) {
    std::set<hash::Digest> bad(r.bad_blobs.begin(), r.bad_blobs.end());
    auto files = sharded_files(store.root() / "entries");
    std::uint64_t done = 0;
    for (auto& f : files) {
        if (opt.progress) opt.progress("entries", done, files.size(), r.bytes_read);
        ++done;
        ++r.entries;
        auto e = read_or_report<Entry>(f, "entry", "removed; the crate recompiles", opt, r,
                                       [&](const hash::Digest& k2) { return store.read_entry(k2); });
        if (!e) continue;
        for (auto& b : e->blobs()) {
            bool corrupt = bad.contains(b);
            if (!corrupt && store.has_blob(b)) continue;
            bool gone = opt.repair && store.remove_entry(e->k2).has_value();
            add(r, "entry " + e->k2.hex() + " of " + e->crate + " names " + (corrupt ? "corrupt" : "missing") + " blob " + b.hex(),
                opt.repair ? "removed; " + e->crate + " recompiles" : k_repair_fix + std::string(" (") + e->crate + " then recompiles)",
                gone);
            break; // one line per entry
        }
    }
}

void check_manifests(Store& store, const CheckOptions& opt, CheckReport& r) {
    auto files = sharded_files(store.root() / "manifests");
    std::uint64_t done = 0;
    for (auto& f : files) {
        if (opt.progress) opt.progress("manifests", done, files.size(), r.bytes_read);
        ++done;
        ++r.manifests;
        read_or_report<Manifest>(f, "manifest", "removed", opt, r,
                                 [&](const hash::Digest& k1) { return store.read_manifest(k1); });
    }
}

} // namespace

const std::vector<StoreCheck>& store_checks() {
    static const std::vector<StoreCheck> checks = {
        {"blobs", true, check_blobs},
        {"entries", false, check_entries},
        {"manifests", false, check_manifests},
    };
    return checks;
}

CheckReport check_store(Store& store, const CheckOptions& opt) {
    CheckReport report;
    for (auto& c : store_checks())
        if (!c.slow || opt.verify_blobs) c.run(store, opt, report);
    return report;
}

Result<bool> blob_is_intact(const Store& store, const hash::Digest& d, const std::function<bool(std::uint64_t)>& on_chunk) {
    fs::path p = store.blob_path(d);
    // No following links and no blocking open: a FIFO or a device here must not hang us.
    int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) return fail(ErrorKind::not_found, "blob " + d.hex() + " is gone");
        if (err == ELOOP) return fail(ErrorKind::corrupt, "it is a symbolic link");
        return fail(ErrorKind::io, "cannot open " + p.string() + ": " + std::strerror(err));
    }
    util::UniqueFd owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(ErrorKind::io, "cannot stat " + p.string() + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::corrupt, "it is not a regular file");
    hash::Hasher h;
    std::string buf(k_chunk_bytes, '\0');
    while (true) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EIO) return fail(ErrorKind::corrupt, "reading it fails with an I/O error");
            return fail(ErrorKind::io, "cannot read " + p.string() + ": " + std::strerror(errno));
        }
        if (n == 0) break;
        h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
        if (on_chunk && !on_chunk(static_cast<std::uint64_t>(n))) return fail(ErrorKind::timeout, "stopped");
    }
    return h.finish() == d;
}

std::vector<std::string> remove_corrupt_blob(Store& store, const hash::Digest& d) {
    ::unlink(store.blob_path(d).c_str());
    std::vector<std::string> crates;
    for (auto& e : store.list_entries()) {
        auto blobs = e.blobs();
        bool names = std::find(blobs.begin(), blobs.end(), d) != blobs.end();
        if (names && store.remove_entry(e.k2)) crates.push_back(e.crate);
    }
    return crates;
}

} // namespace kache::store
