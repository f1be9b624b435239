// kache/util/fs.hpp — small RAII owners and file helpers that know nothing of caching.
#pragma once

#include <kache/error.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::util {

namespace fs = std::filesystem;

// The mode of every directory kache creates for itself (a store and its subfolders).
inline constexpr mode_t k_private_dir_mode = 0700;
// The mode of every file kache writes for itself (entries, manifests, locks, logs).
inline constexpr mode_t k_private_file_mode = 0600;
// The mode of an immutable file kache writes for itself (a stored blob).
inline constexpr mode_t k_private_read_only_mode = 0400;

// Owns a file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) noexcept : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd();

    int get() const noexcept { return fd_; }
    explicit operator bool() const noexcept { return fd_ >= 0; }
    int release() noexcept { int f = fd_; fd_ = -1; return f; }
    void reset(int fd = -1) noexcept;

private:
    int fd_ = -1;
};

// A file under construction, removed on destruction unless a commit succeeded, so a crash
// or an error never leaves a partial file at its destination. The only temp-file owner:
// it stages blobs in a store's tmp dir and downloads beside their destination.
class TempFile {
public:
    // A new unique file ".tmp.<pid>.<random>" in dir (which must exist) with the given mode
    // (not weakened by the umask), flock'ed while open so GC can tell it from a dead
    // writer's leftover. A missing dir is ErrorKind::not_found, as are the
    // commits' missing destination directories (see make_parent_and_retry).
    static Result<TempFile> create(const fs::path& dir, mode_t mode = k_private_file_mode);
    // A new file ".<tag>.<name of dest>.XXXXXX" in dest's directory, so that the commit is
    // one rename. EACCES/EPERM/EROFS are reported as denied_kind (ErrorKind::denied for a
    // shared remote directory), a missing directory as ErrorKind::io: for a caller whose
    // not_found means "no such remote object", a missing local directory is no such thing.
    static Result<TempFile> create_beside(const fs::path& dest, std::string_view tag,
                                          ErrorKind denied_kind = ErrorKind::io, mode_t mode = 0644);

    TempFile(TempFile&&) noexcept;
    TempFile& operator=(TempFile&&) noexcept;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();

    int fd() const noexcept { return fd_.get(); }
    const fs::path& path() const noexcept { return path_; }

    // Writes all of data.
    Result<void> write(std::string_view data);
    // Empties the file and rewinds it (a retried download starts over).
    Result<void> reset();
    // Fsyncs if durable, closes (reporting a failed close: on NFS it can mean lost writes)
    // and renames onto dest, atomically replacing whatever is there.
    Result<void> commit_replace(const fs::path& dest, bool durable = false);
    // Like commit_replace, but ErrorKind::conflict if dest exists: renameat2(RENAME_NOREPLACE),
    // or link() on filesystems without it, so two writers racing for dest never replace each
    // other. ErrorKind::unsupported where neither exists.
    Result<void> commit_no_replace(const fs::path& dest, bool durable = false);

private:
    TempFile(UniqueFd fd, fs::path path, ErrorKind denied_kind, ErrorKind missing_kind)
        : fd_(std::move(fd)), path_(std::move(path)), denied_kind_(denied_kind), missing_kind_(missing_kind) {}
    Result<void> finish(bool durable);
    Error error(int err, std::string_view op, const fs::path& what) const;

    UniqueFd fd_;
    fs::path path_;
    ErrorKind denied_kind_ = ErrorKind::io;
    ErrorKind missing_kind_ = ErrorKind::not_found;
    bool done_ = false;
};

// A path that this scope owns and removes (unlink) when it ends, for a file written by
// someone else (a pack, a manifest object): the scratch files of an upload or a sync.
class ScopedUnlink {
public:
    ScopedUnlink() = default;
    explicit ScopedUnlink(fs::path path) noexcept : path_(std::move(path)) {}
    ScopedUnlink(ScopedUnlink&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
    ScopedUnlink& operator=(ScopedUnlink&& o) noexcept;
    ScopedUnlink(const ScopedUnlink&) = delete;
    ScopedUnlink& operator=(const ScopedUnlink&) = delete;
    ~ScopedUnlink();

    const fs::path& path() const noexcept { return path_; }
    // Gives up ownership: the file stays.
    fs::path release() noexcept;

    // A unique, not yet existing name ".<tag>.<pid>.<random>" in dir, owned from now on.
    static ScopedUnlink unique_in(const fs::path& dir, std::string_view tag);

private:
    fs::path path_;
};

// Holds an flock(2) on a file; released on destruction (and by the kernel if the
// holder dies, which is how a crashed holder's lock is recovered).
class FileLock {
public:
    FileLock() = default;
    // Blocks until the exclusive lock on path (created if missing) is held or
    // the timeout passes (ErrorKind::timeout).
    static Result<FileLock> acquire(const fs::path& path, std::chrono::milliseconds timeout);
    // Takes the lock only if it is free now; an empty optional if another holds it.
    static Result<std::optional<FileLock>> try_acquire(const fs::path& path);
    bool held() const noexcept { return static_cast<bool>(fd_); }
    // True while some process holds a lock on the existing file at path (the file is
    // neither created nor locked): how a live writer, daemon or trim is told from a dead one.
    static bool held_elsewhere(const fs::path& path);

private:
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// Whether path names a regular file, symlinks followed: what a search for a library or a
// target spec takes (a directory or a FIFO of that name is passed over).
bool regular_file_at(const fs::path& path) noexcept;

// Whether open_regular follows a symlink in the last component.
enum class FollowLinks { yes, no };
// Opens path read-only for a bounded read: the open never blocks (O_NONBLOCK, so a FIFO
// or a device without a writer cannot hang it), the file must be a regular file
// (ErrorKind::invalid_input otherwise: a FIFO, a device, a directory). The descriptor
// keeps O_NONBLOCK (regular files ignore it; read it with read_regular, which clears it
// should a filesystem ever answer EAGAIN). With FollowLinks::no a symlink is refused
// (O_NOFOLLOW). *size receives the file's size when given. ErrorKind::not_found if it
// does not exist.
Result<UniqueFd> open_regular(const fs::path& path, FollowLinks follow = FollowLinks::yes,
                              std::uint64_t* size = nullptr);
// read(2) on a descriptor from open_regular: retries EINTR, and on EAGAIN makes the
// descriptor blocking and retries. -1 (errno set) on an error.
ssize_t read_regular(int fd, void* buf, size_t n) noexcept;
// Reads a whole file. ErrorKind::not_found if it does not exist.
// Both read helpers read regular files only (open_regular).
Result<std::string> read_file(const fs::path& path);
// Reads a whole file but at most max_bytes (ErrorKind::invalid_input if larger).
Result<std::string> read_file_bounded(const fs::path& path, std::uint64_t max_bytes);
// The same for a descriptor from open_regular (or a regular file opened as carefully)
// whose fstat said size; path names it in errors.
Result<std::string> read_open_bounded(int fd, std::uint64_t size, std::uint64_t max_bytes, const fs::path& path);
// Writes data to path atomically through a temp file in tmp_dir.
Result<void> write_file_atomic(const fs::path& path, std::string_view data, const fs::path& tmp_dir,
                               mode_t mode = k_private_file_mode);
// Writes all bytes to fd, retrying on EINTR and short writes.
bool write_all(int fd, std::string_view data) noexcept;
// Creates dir and parents; success if it exists already.
Result<void> make_dirs(const fs::path& dir);
// Creates dir and its missing parents with k_private_dir_mode; success if it exists
// already. For directories inside a private one (store shards, queues, logs).
Result<void> make_private_dirs(const fs::path& dir);
// Runs op() (which returns a Result); if it failed with ErrorKind::not_found, creates the
// parent directory of target (mode k_private_dir_mode) and runs op() once more. For writes
// into lazily created directories of a private store (shards, queues): the common case
// pays no mkdir.
template <class Op>
auto make_parent_and_retry(const fs::path& target, Op&& op) -> decltype(op()) {
    auto r = op();
    if (!r && r.error().kind == ErrorKind::not_found) {
        if (auto made = make_private_dirs(target.parent_path()); !made) return std::unexpected(made.error());
        r = op();
    }
    return r;
}
// open(2) of path with flags (O_CLOEXEC added); with O_CREAT, a missing parent directory
// is created (mode k_private_dir_mode) and the open retried once. ErrorKind::not_found if it is still missing.
Result<UniqueFd> open_file(const fs::path& path, int flags, mode_t mode = 0644);
// Copies src to dst (dst created or truncated, with mode), via copy_file_range.
Result<void> copy_file(const fs::path& src, const fs::path& dst, mode_t mode);
// Tries FICLONE of src into a new dst; false if the filesystem cannot reflink.
bool reflink_file(const fs::path& src, const fs::path& dst, mode_t mode) noexcept;
// Sets atime and mtime of path to now.
Result<void> touch_now(const fs::path& path);

// The parts of stat(2) that tell whether a file changed since it was hashed.
struct FileStamp {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    mode_t mode = 0;
    bool operator==(const FileStamp&) const = default;

    // Whether the file last changed (content or inode) before t_ns. A digest read
    // under a stamp settled before the racy window may be remembered with it:
    // any later write moves the mtime or the ctime past it.
    bool changed_before(std::int64_t t_ns) const { return mtime_ns < t_ns && ctime_ns < t_ns; }
};
// Stats path (following links). ErrorKind::not_found if missing.
Result<FileStamp> stamp(const fs::path& path);
FileStamp stamp_of(const struct stat& st) noexcept;
std::int64_t now_ns() noexcept;

// Returns the value of an environment variable, or nullopt if unset.
std::optional<std::string> env(const char* name);
// True if the variable is set to 1/true/yes/on (case-insensitive).
bool env_flag(const char* name);

// "1.2 MiB", "340.0 KiB", "12 B": binary units, as config::parse_size reads them
std::string human_bytes(std::uint64_t bytes);

// Splits "a,b, c" into trimmed non-empty parts.
std::vector<std::string> split_list(std::string_view s, char sep = ',');

} // namespace kache::util
