#define XXH_INLINE_ALL
#include <xxhash.h>

#include <kache/hash.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

namespace kache::hash {

namespace fs = std::filesystem;

struct Hasher::State {
    XXH3_state_t xxh;
};

Hasher::Hasher() : state_(std::make_unique<State>()) { XXH3_128bits_reset(&state_->xxh); }
Hasher::~Hasher() = default;

Hasher& Hasher::update(std::string_view data) {
    XXH3_128bits_update(&state_->xxh, data.data(), data.size());
    return *this;
}

Hasher& Hasher::field(std::string_view data) {
    field(static_cast<std::uint64_t>(data.size()));
    return update(data);
}

Hasher& Hasher::field(std::uint64_t value) {
    unsigned char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<unsigned char>(value >> (8 * i));
    return update(std::string_view(reinterpret_cast<const char*>(buf), 8));
}

Hasher& Hasher::field(const Digest& d) {
    return update(std::string_view(reinterpret_cast<const char*>(d.bytes.data()), d.bytes.size()));
}

static Digest from_xxh(XXH128_hash_t h) {
    XXH128_canonical_t canon;
    XXH128_canonicalFromHash(&canon, h);
    Digest d;
    std::memcpy(d.bytes.data(), canon.digest, 16);
    return d;
}

Digest Hasher::finish() { return from_xxh(XXH3_128bits_digest(&state_->xxh)); }

Digest of(std::string_view data) { return from_xxh(XXH3_128bits(data.data(), data.size())); }

fs::path sharded_path(const fs::path& root, std::string_view folder, const Digest& d) {
    std::string h = d.hex();
    std::string p = root.native();
    p.reserve(p.size() + folder.size() + h.size() + 3);
    if (p.empty() || p.back() != '/') p += '/';
    if (!folder.empty()) p.append(folder).append("/");
    p.append(h, 0, 2).append("/").append(h, 2);
    return fs::path(std::move(p));
}

std::string Digest::hex() const {
    static const char* digits = "0123456789abcdef";
    std::string s(32, '0');
    for (size_t i = 0; i < 16; ++i) {
        s[2 * i] = digits[bytes[i] >> 4];
        s[2 * i + 1] = digits[bytes[i] & 15];
    }
    return s;
}

std::optional<Digest> Digest::from_hex(std::string_view s) {
    if (s.size() != 32) return std::nullopt;
    auto nib = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    Digest d;
    for (size_t i = 0; i < 16; ++i) {
        int hi = nib(s[2 * i]), lo = nib(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        d.bytes[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return d;
}

Result<Digest> of_file(const fs::path& path) {
    // Regular files only, opened without blocking: an input named by a stored or remote
    // manifest may be a FIFO or a device (/dev/zero), which would block or never end.
    std::uint64_t size = 0;
    auto owner = util::open_regular(path, util::FollowLinks::yes, &size);
    if (!owner) return std::unexpected(owner.error());
    int fd = owner->get();
    XXH3_state_t st;
    XXH3_128bits_reset(&st);
    alignas(64) static thread_local char buf[1 << 17];
    std::uint64_t total = 0;
    // Up to the size fstat saw, without a last read to see the end (a size of 0 may
    // be a file that does not know its size: read to the end).
    while (size == 0 || total < size) {
        ssize_t n = util::read_regular(fd, buf, sizeof buf);
        if (n < 0) return fail(ErrorKind::io, "cannot read " + path.string() + ": " + std::strerror(errno));
        if (n == 0) break;
        XXH3_128bits_update(&st, buf, static_cast<size_t>(n));
        total += static_cast<std::uint64_t>(n);
    }
    return from_xxh(XXH3_128bits_digest(&st));
}

// ---- FileHashCache ----
//
// Entries are keyed by (device, inode), so a blob and the output hardlinked to
// it share one entry. Entry file: a Record (little-endian host order). It is
// rewritten in place rather than renamed into place (renames are the slowest
// thing on a busy disk, and this is on every hit's path); the record carries a
// checksum, so a torn or stale read is detected and only costs a rehash.

namespace {
constexpr char k_magic[4] = {'K', 'H', 'C', '2'};
struct Record {
    char magic[4];
    std::uint32_t pad;
    std::uint64_t size;
    std::int64_t mtime_ns;
    std::int64_t ctime_ns;
    std::uint64_t inode;
    std::uint64_t device;
    std::uint8_t digest[16];
    std::uint64_t check; // XXH3-64 of everything above
};

std::uint64_t record_check(const Record& r) { return XXH3_64bits(&r, offsetof(Record, check)); }
} // namespace

FileHashCache::FileHashCache(fs::path dir, fs::path tmp, std::chrono::nanoseconds racy_window)
    : dir_(std::move(dir)), tmp_(std::move(tmp)), racy_window_ns_(racy_window.count()) {}

fs::path FileHashCache::entry_path(const util::FileStamp& st) const {
    std::string id = std::to_string(st.device) + ":" + std::to_string(st.inode);
    return sharded_path(dir_, {}, of(id));
}

namespace {
// Whether the file at path still has stamp st after it was read (the ctime aside for
// store blobs): ErrorKind::conflict if not.
Result<void> still(const fs::path& path, const util::FileStamp& st, bool ignore_ctime) {
    auto after = util::stamp(path);
    if (!after) return std::unexpected(after.error());
    util::FileStamp a = *after;
    if (ignore_ctime) a.ctime_ns = st.ctime_ns;
    if (!(a == st)) return fail(ErrorKind::conflict, path.string() + " changed while it was read");
    return ok();
}
} // namespace

Result<Digest> FileHashCache::digest(const fs::path& path, bool ignore_ctime) {
    auto st = util::stamp(path);
    if (!st) return std::unexpected(st.error());
    return digest_under(path, *st, ignore_ctime);
}

Result<FileHashCache::Stamped> FileHashCache::digest_stamped(const fs::path& path) {
    auto st = util::stamp(path);
    if (!st) return std::unexpected(st.error());
    auto d = digest_under(path, *st, false);
    if (!d) return std::unexpected(d.error());
    return Stamped{*d, *st};
}

const Digest* FileHashCache::known(const util::FileStamp& st) const {
    for (auto& k : known_)
        if (k.stamp == st) return &k.digest;
    return nullptr;
}

void FileHashCache::learn(const util::FileStamp& st, const Digest& d) {
    if (known(st)) return;
    known_.push_back({st, d});
}

Result<Digest> FileHashCache::digest_under(const fs::path& path, const util::FileStamp& st, bool ignore_ctime) {
    if (auto* d = known(st)) return *d;
    if (st.size < k_min_cached_size) {
        auto d = of_file(path);
        if (!d) return d;
        if (auto same = still(path, st, ignore_ctime); !same) return std::unexpected(same.error());
        // Any write after st was taken gives the file a newer mtime or ctime (past
        // the racy window), so it cannot answer to st again.
        if (st.changed_before(util::now_ns() - racy_window_ns_)) learn(st, *d);
        return d;
    }
    fs::path entry = entry_path(st);
    int fd = ::open(entry.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        Record rec;
        ssize_t n = ::read(fd, &rec, sizeof rec);
        ::close(fd);
        if (n == static_cast<ssize_t>(sizeof rec) && std::memcmp(rec.magic, k_magic, 4) == 0 &&
            rec.check == record_check(rec) && rec.size == st.size && rec.mtime_ns == st.mtime_ns &&
            (ignore_ctime || rec.ctime_ns == st.ctime_ns) && rec.inode == st.inode && rec.device == st.device) {
            Digest d;
            std::memcpy(d.bytes.data(), rec.digest, 16);
            if (rec.ctime_ns == st.ctime_ns) learn(st, d);
            return d;
        }
    }
    auto d = of_file(path);
    if (!d) return d;
    // Re-stat: if the file changed while we read it, do not remember anything.
    // The ctime counts too: an in-place write with the mtime put back (`cp -p`,
    // `touch -d`) moves only the ctime, and may do so again within its tick.
    if (auto same = still(path, st, ignore_ctime); !same) return std::unexpected(same.error());
    std::int64_t last_change = ignore_ctime ? st.mtime_ns : std::max(st.mtime_ns, st.ctime_ns);
    if (last_change < util::now_ns() - racy_window_ns_) {
        store(st, *d);
        if (!ignore_ctime) learn(st, *d);
    }
    return d;
}

void FileHashCache::remember(const fs::path& path, const Digest& d) {
    auto st = util::stamp(path);
    if (!st || st->size < k_min_cached_size) return;
    store(*st, d);
}

void FileHashCache::store(const util::FileStamp& st, const Digest& d) {
    Record rec{};
    std::memcpy(rec.magic, k_magic, 4);
    rec.size = st.size;
    rec.mtime_ns = st.mtime_ns;
    rec.ctime_ns = st.ctime_ns;
    rec.inode = st.inode;
    rec.device = st.device;
    std::memcpy(rec.digest, d.bytes.data(), 16);
    rec.check = record_check(rec);
    fs::path entry = entry_path(st);
    // Best effort: a failure here only means the next lookup rehashes. No
    // O_TRUNC: every record has the same size, so one pwrite replaces it whole,
    // while truncating makes ext4 flush the file on close (auto_da_alloc), about
    // 0.1-0.7 ms per entry, twice on a typical hit.
    auto fd = util::open_file(entry, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
    if (!fd) return;
    (void)!::pwrite(fd->get(), &rec, sizeof rec, 0);
}

} // namespace kache::hash
