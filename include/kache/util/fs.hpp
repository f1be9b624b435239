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

// A file under construction in a staging directory. Unless commit() succeeds,
// the destructor removes it, so a crash or an error never leaves a partial file
// at its destination.
class TempFile {
public:
    // Creates a new unique file in dir (which must exist) with the given mode.
    static Result<TempFile> create(const fs::path& dir, mode_t mode = 0644);

    TempFile(TempFile&&) noexcept;
    TempFile& operator=(TempFile&&) noexcept;
    TempFile(const TempFile&) = delete;
    ~TempFile();

    int fd() const noexcept { return fd_.get(); }
    const fs::path& path() const noexcept { return path_; }

    // Writes all of data.
    Result<void> write(std::string_view data);
    // Optionally fsyncs, closes and renames onto dest (atomically replacing it).
    Result<void> commit(const fs::path& dest, bool durable = false);
    // Like commit, but fails with ErrorKind::conflict if dest exists (link + unlink).
    Result<void> commit_no_replace(const fs::path& dest);

private:
    TempFile(UniqueFd fd, fs::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
    UniqueFd fd_;
    fs::path path_;
    bool done_ = false;
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

private:
    explicit FileLock(UniqueFd fd) : fd_(std::move(fd)) {}
    UniqueFd fd_;
};

// Reads a whole file. ErrorKind::not_found if it does not exist.
Result<std::string> read_file(const fs::path& path);
// Reads a whole file but at most max_bytes (ErrorKind::invalid_input if larger).
Result<std::string> read_file_bounded(const fs::path& path, std::uint64_t max_bytes);
// Writes data to path atomically through a temp file in tmp_dir.
Result<void> write_file_atomic(const fs::path& path, std::string_view data, const fs::path& tmp_dir,
                               mode_t mode = 0644);
// Writes all bytes to fd, retrying on EINTR and short writes.
bool write_all(int fd, std::string_view data) noexcept;
// Creates dir and parents; success if it exists already.
Result<void> make_dirs(const fs::path& dir);
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
};
// Stats path (following links). ErrorKind::not_found if missing.
Result<FileStamp> stamp(const fs::path& path);
FileStamp stamp_of(const struct stat& st) noexcept;
std::int64_t now_ns() noexcept;

// Returns the value of an environment variable, or nullopt if unset.
std::optional<std::string> env(const char* name);
// True if the variable is set to 1/true/yes/on (case-insensitive).
bool env_flag(const char* name);

// "1.2 MB", "340 kB", "12 B"
std::string human_bytes(std::uint64_t bytes);

// Splits "a,b, c" into trimmed non-empty parts.
std::vector<std::string> split_list(std::string_view s, char sep = ',');

} // namespace kache::util
