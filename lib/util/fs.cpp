#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>
#include <vector>

namespace kache::util {

namespace {

std::string errno_text(const std::string& what, const fs::path& p, int err) {
    return what + " " + p.string() + ": " + std::strerror(err);
}

// Names tried before create() gives up (a clash needs the same pid and 12 random characters).
inline constexpr int k_unique_name_attempts = 16;
// The part of a destination's name kept in a create_beside name (NAME_MAX is 255).
inline constexpr std::size_t k_beside_name_max = 150;

ErrorKind kind_of(int err) {
    if (err == ENOENT || err == ENOTDIR) return ErrorKind::not_found;
    return ErrorKind::io;
}

Error errno_error(int err, std::string_view op, const fs::path& what, ErrorKind denied, ErrorKind missing) {
    ErrorKind kind = ErrorKind::io;
    if (err == EACCES || err == EPERM || err == EROFS) kind = denied;
    else if (err == ENOENT || err == ENOTDIR) kind = missing;
    return Error{kind, std::string(op) + " " + what.string() + ": " + std::strerror(err)};
}

std::string random_suffix() {
    static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                            static_cast<std::uint64_t>(::getpid()) << 32 ^
                                            static_cast<std::uint64_t>(now_ns())};
    static const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::string s(12, '0');
    for (auto& c : s) c = digits[rng() % 36];
    return s;
}

} // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
}
UniqueFd::~UniqueFd() { reset(); }
void UniqueFd::reset(int fd) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
}

Result<TempFile> TempFile::create(const fs::path& dir, mode_t mode) {
    for (int attempt = 0; attempt < k_unique_name_attempts; ++attempt) {
        fs::path p = dir / (".tmp." + std::to_string(::getpid()) + "." + random_suffix());
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd >= 0) {
            // The umask must not weaken the mode we promise (blobs are read-only).
            ::fchmod(fd, mode);
            // Held until the fd closes: GC sees a temp file nobody holds as left by a dead writer.
            (void)::flock(fd, LOCK_EX | LOCK_NB);
            return TempFile(UniqueFd(fd), p, ErrorKind::io, ErrorKind::not_found);
        }
        if (errno != EEXIST) return fail(kind_of(errno), errno_text("cannot create temp file in", dir, errno));
    }
    return fail(ErrorKind::io, "cannot create a unique temp file in " + dir.string());
}

Result<TempFile> TempFile::create_beside(const fs::path& dest, std::string_view tag, ErrorKind denied_kind,
                                         mode_t mode) {
    fs::path dir = dest.parent_path();
    if (dir.empty()) dir = ".";
    std::string name = dest.filename().string();
    // NAME_MAX is 255: keep the template short enough for long destination names.
    if (name.size() > k_beside_name_max) name.resize(k_beside_name_max);
    std::string tmpl = (dir / ("." + std::string(tag) + "." + name + ".XXXXXX")).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_error(errno, "cannot create a temporary file in", dir, denied_kind, ErrorKind::io));
    // mkstemp makes 0600; set the promised mode without reading the umask (reading it means
    // changing it, which races with other threads).
    ::fchmod(fd, mode);
    return TempFile(UniqueFd(fd), fs::path(buf.data()), denied_kind, ErrorKind::io);
}

TempFile::TempFile(TempFile&& o) noexcept
    : fd_(std::move(o.fd_)), path_(std::move(o.path_)), denied_kind_(o.denied_kind_),
      missing_kind_(o.missing_kind_), done_(o.done_) {
    o.done_ = true;
}
TempFile& TempFile::operator=(TempFile&& o) noexcept {
    if (this != &o) {
        if (!done_ && !path_.empty()) ::unlink(path_.c_str());
        fd_ = std::move(o.fd_);
        path_ = std::move(o.path_);
        denied_kind_ = o.denied_kind_;
        missing_kind_ = o.missing_kind_;
        done_ = o.done_;
        o.done_ = true;
    }
    return *this;
}
TempFile::~TempFile() {
    if (!done_ && !path_.empty()) ::unlink(path_.c_str());
}

Error TempFile::error(int err, std::string_view op, const fs::path& what) const {
    return errno_error(err, op, what, denied_kind_, missing_kind_);
}

Result<void> TempFile::write(std::string_view data) {
    if (!write_all(fd_.get(), data)) return std::unexpected(error(errno, "cannot write", path_));
    return ok();
}

Result<void> TempFile::reset() {
    if (::ftruncate(fd_.get(), 0) != 0) return std::unexpected(error(errno, "cannot truncate", path_));
    if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return std::unexpected(error(errno, "cannot seek", path_));
    return ok();
}

Result<void> TempFile::finish(bool durable) {
    if (durable && ::fsync(fd_.get()) != 0) return std::unexpected(error(errno, "cannot fsync", path_));
    int f = fd_.release();
    if (f >= 0 && ::close(f) != 0 && errno != EINTR) return std::unexpected(error(errno, "cannot close", path_));
    return ok();
}

Result<void> TempFile::commit_replace(const fs::path& dest, bool durable) {
    if (auto r = finish(durable); !r) return r;
    if (::rename(path_.c_str(), dest.c_str()) != 0) return std::unexpected(error(errno, "cannot rename onto", dest));
    done_ = true;
    return ok();
}

Result<void> TempFile::commit_no_replace(const fs::path& dest, bool durable) {
    if (auto r = finish(durable); !r) return r;
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, dest.c_str(), RENAME_NOREPLACE) == 0) {
        done_ = true;
        return ok();
    }
    int err = errno;
    if (err == EEXIST) return fail(ErrorKind::conflict, dest.string() + " exists already");
    if (err != EINVAL && err != ENOSYS && err != ENOTSUP)
        return std::unexpected(error(err, "cannot rename onto", dest));
    // The filesystem has no RENAME_NOREPLACE (NFS, some FUSE): link() fails with EEXIST just
    // as atomically; the temp name is then unlinked by the destructor.
    if (::link(path_.c_str(), dest.c_str()) == 0) return ok();
    err = errno;
    if (err == EEXIST) return fail(ErrorKind::conflict, dest.string() + " exists already");
    if (err == EPERM || err == ENOTSUP || err == EOPNOTSUPP)
        return fail(ErrorKind::unsupported, "the filesystem of " + dest.parent_path().string() +
                                                " supports neither RENAME_NOREPLACE nor hard links, so "
                                                "writes without overwrite cannot be made atomic there");
    return std::unexpected(error(err, "cannot link onto", dest));
}

ScopedUnlink& ScopedUnlink::operator=(ScopedUnlink&& o) noexcept {
    if (this != &o) {
        if (!path_.empty()) ::unlink(path_.c_str());
        path_ = std::move(o.path_);
        o.path_.clear();
    }
    return *this;
}
ScopedUnlink::~ScopedUnlink() {
    if (!path_.empty()) ::unlink(path_.c_str());
}
fs::path ScopedUnlink::release() noexcept {
    fs::path p = std::move(path_);
    path_.clear();
    return p;
}
ScopedUnlink ScopedUnlink::unique_in(const fs::path& dir, std::string_view tag) {
    return ScopedUnlink(dir / ("." + std::string(tag) + "." + std::to_string(::getpid()) + "." + random_suffix()));
}

Result<FileLock> FileLock::acquire(const fs::path& path, std::chrono::milliseconds timeout) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_private_file_mode);
    if (fd < 0) return fail(kind_of(errno), errno_text("cannot open lock", path, errno));
    UniqueFd owner(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(std::move(owner));
    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(pause);
        if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return FileLock(std::move(owner));
        if (errno != EWOULDBLOCK && errno != EINTR) return fail(ErrorKind::io, errno_text("cannot lock", path, errno));
        pause = std::min(pause * 2, std::chrono::milliseconds(50));
    }
    return fail(ErrorKind::timeout, "timed out waiting for lock " + path.string());
}

bool FileLock::held_elsewhere(const fs::path& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
    return fd && ::flock(fd.get(), LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
}

Result<std::optional<FileLock>> FileLock::try_acquire(const fs::path& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_private_file_mode);
    if (fd < 0) return fail(kind_of(errno), errno_text("cannot open lock", path, errno));
    UniqueFd owner(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return std::optional<FileLock>(FileLock(std::move(owner)));
    if (errno == EWOULDBLOCK) return std::optional<FileLock>();
    return fail(ErrorKind::io, errno_text("cannot lock", path, errno));
}

Result<std::string> read_file(const fs::path& path) {
    return read_file_bounded(path, UINT64_MAX);
}

bool regular_file_at(const fs::path& path) noexcept {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<UniqueFd> open_regular(const fs::path& path, FollowLinks follow, std::uint64_t* size) {
    int flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow == FollowLinks::no ? O_NOFOLLOW : 0);
    int fd = ::open(path.c_str(), flags);
    if (fd < 0) {
        if (errno == ELOOP && follow == FollowLinks::no)
            return fail(ErrorKind::invalid_input, path.string() + " is a symbolic link, not a regular file");
        return fail(kind_of(errno), errno_text("cannot open", path, errno));
    }
    UniqueFd owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return fail(ErrorKind::io, errno_text("cannot stat", path, errno));
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::invalid_input, path.string() + " is not a regular file");
    // O_NONBLOCK stays: regular files ignore it, and read_regular clears it on the
    // first EAGAIN (some network filesystems honour it) instead of every open paying
    // an fcntl (this is on every hit's path, several times).
    if (size) *size = static_cast<std::uint64_t>(st.st_size);
    return owner;
}

ssize_t read_regular(int fd, void* buf, size_t n) noexcept {
    while (true) {
        ssize_t got = ::read(fd, buf, n);
        if (got >= 0) return got;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        int flags = ::fcntl(fd, F_GETFL);
        if (flags < 0 || ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) return -1;
    }
}

Result<std::string> read_file_bounded(const fs::path& path, std::uint64_t max_bytes) {
    std::uint64_t size = 0;
    auto owner = open_regular(path, FollowLinks::yes, &size);
    if (!owner) return std::unexpected(owner.error());
    return read_open_bounded(owner->get(), size, max_bytes, path);
}

Result<std::string> read_open_bounded(int fd, std::uint64_t size, std::uint64_t max_bytes, const fs::path& path) {
    if (size > max_bytes)
        return fail(ErrorKind::invalid_input, path.string() + " is larger than " + std::to_string(max_bytes) + " bytes");
    std::string out;
    out.resize(static_cast<size_t>(size));
    size_t got = 0;
    while (true) {
        // As many bytes as fstat saw: the whole file (no second read to see its end).
        // A size of 0 may be a file that does not know its size (procfs): read to the end.
        if (got == out.size() && size > 0) break;
        if (got == out.size()) {
            if (out.size() >= max_bytes) break;
            out.resize(std::min<std::uint64_t>(max_bytes, out.size() * 2 + 4096));
        }
        ssize_t n = read_regular(fd, out.data() + got, out.size() - got);
        if (n < 0) return fail(ErrorKind::io, errno_text("cannot read", path, errno));
        if (n == 0) break;
        got += static_cast<size_t>(n);
    }
    out.resize(got);
    return out;
}

Result<void> write_file_atomic(const fs::path& path, std::string_view data, const fs::path& tmp_dir, mode_t mode) {
    auto tmp = TempFile::create(tmp_dir, mode);
    if (!tmp) return std::unexpected(tmp.error());
    if (auto r = tmp->write(data); !r) return r;
    return tmp->commit_replace(path);
}

bool write_all(int fd, std::string_view data) noexcept {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
        ssize_t n = ::write(fd, p, left);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        left -= static_cast<size_t>(n);
    }
    return true;
}

Result<void> make_dirs(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (std::error_code ec2; ec && !fs::is_directory(dir, ec2)) return fail(ErrorKind::io, "cannot create directory " + dir.string() + ": " + ec.message());
    return ok();
}

Result<void> make_private_dirs(const fs::path& dir) {
    if (::mkdir(dir.c_str(), k_private_dir_mode) == 0) return ok();
    int err = errno;
    if (err == ENOENT && dir.has_relative_path() && dir.parent_path() != dir) {
        if (auto r = make_private_dirs(dir.parent_path()); !r) return r;
        if (::mkdir(dir.c_str(), k_private_dir_mode) == 0) return ok();
        err = errno;
    }
    struct stat st {};
    if (err == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return ok();
    return fail(kind_of(err), errno_text("cannot create directory", dir, err));
}

Result<UniqueFd> open_file(const fs::path& path, int flags, mode_t mode) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0 && errno == ENOENT && (flags & O_CREAT) && make_private_dirs(path.parent_path()))
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    if (fd < 0) return fail(kind_of(errno), errno_text("cannot open", path, errno));
    return UniqueFd(fd);
}

Result<void> copy_file(const fs::path& src, const fs::path& dst, mode_t mode) {
    int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return fail(kind_of(errno), errno_text("cannot open", src, errno));
    UniqueFd in_owner(in);
    ::unlink(dst.c_str()); // never write through an existing hardlink into someone's blob
    int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) return fail(kind_of(errno), errno_text("cannot create", dst, errno));
    UniqueFd out_owner(out);
    ::fchmod(out, mode);
    while (true) {
        ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, 1 << 30, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) break;
            return fail(ErrorKind::io, errno_text("cannot copy to", dst, errno));
        }
        if (n == 0) return ok();
    }
    // Fallback: plain read/write from wherever copy_file_range stopped.
    char buf[1 << 16];
    while (true) {
        ssize_t n = ::read(in, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail(ErrorKind::io, errno_text("cannot read", src, errno));
        }
        if (n == 0) return ok();
        if (!write_all(out, std::string_view(buf, static_cast<size_t>(n))))
            return fail(ErrorKind::io, errno_text("cannot write", dst, errno));
    }
}

bool reflink_file(const fs::path& src, const fs::path& dst, mode_t mode) noexcept {
    int in = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) return false;
    UniqueFd in_owner(in);
    ::unlink(dst.c_str());
    int out = ::open(dst.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) return false;
    UniqueFd out_owner(out);
    if (::ioctl(out, FICLONE, in) != 0) {
        out_owner.reset();
        ::unlink(dst.c_str());
        return false;
    }
    ::fchmod(out, mode);
    return true;
}

Result<void> touch_now(const fs::path& path) {
    if (::utimensat(AT_FDCWD, path.c_str(), nullptr, 0) != 0)
        return fail(kind_of(errno), errno_text("cannot set the time of", path, errno));
    return ok();
}

FileStamp stamp_of(const struct stat& st) noexcept {
    FileStamp s;
    s.size = static_cast<std::uint64_t>(st.st_size);
    s.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctime_ns = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    s.inode = st.st_ino;
    s.device = st.st_dev;
    s.mode = st.st_mode;
    return s;
}

Result<FileStamp> stamp(const fs::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return fail(kind_of(errno), errno_text("cannot stat", path, errno));
    return stamp_of(st);
}

std::int64_t now_ns() noexcept {
    struct timespec ts {};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::optional<std::string> env(const char* name) {
    const char* v = std::getenv(name);
    if (!v) return std::nullopt;
    return std::string(v);
}

bool env_flag(const char* name) {
    const char* v = std::getenv(name);
    if (!v) return false;
    std::string s(v);
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s == "1" || s == "true" || s == "yes" || s == "on";
}

std::string human_bytes(std::uint64_t bytes) {
    // Binary units, the same ones config::parse_size reads ("20G" is 20 GiB and prints so).
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        ++u;
    }
    char buf[32];
    if (u == 0) std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
    else std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

std::vector<std::string> split_list(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(sep, i);
        if (j == std::string_view::npos) j = s.size();
        std::string_view part = s.substr(i, j - i);
        while (!part.empty() && std::isspace(static_cast<unsigned char>(part.front()))) part.remove_prefix(1);
        while (!part.empty() && std::isspace(static_cast<unsigned char>(part.back()))) part.remove_suffix(1);
        if (!part.empty()) out.emplace_back(part);
        i = j + 1;
    }
    return out;
}

} // namespace kache::util
