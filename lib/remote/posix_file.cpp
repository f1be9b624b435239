#include "posix_file.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace kache::remote::detail {

namespace fs = std::filesystem;

Result<void> close_reporting(Fd& fd, const fs::path& what) {
    int f = fd.release();
    if (f >= 0 && ::close(f) != 0 && errno != EINTR) return std::unexpected(errno_error(errno, "close", what));
    return ok();
}

Error errno_error(int err, std::string_view op, const fs::path& what, ErrorKind denied_kind,
                  ErrorKind missing_kind) {
    ErrorKind kind = ErrorKind::io;
    if (err == EACCES || err == EPERM || err == EROFS) kind = denied_kind;
    else if (err == ENOENT || err == ENOTDIR) kind = missing_kind;
    return Error{kind, std::string(op) + " " + what.string() + ": " + std::strerror(err)};
}

Result<Fd> open_read(const fs::path& path, ErrorKind denied_kind, ErrorKind missing_kind) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_error(errno, "cannot open", path, denied_kind, missing_kind));
    return Fd(fd);
}

Result<void> write_all(int fd, const char* data, std::size_t size, const fs::path& what) {
    while (size > 0) {
        ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::unexpected(errno_error(errno, "cannot write", what));
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return ok();
}

Result<TempFile> TempFile::create_beside(const fs::path& dest, std::string_view tag, ErrorKind denied_kind) {
    fs::path dir = dest.parent_path();
    if (dir.empty()) dir = ".";
    std::string name = "." + std::string(tag) + "." + dest.filename().string() + ".XXXXXX";
    // NAME_MAX is 255: keep the template short enough for long destination names.
    if (name.size() > 200) name = "." + std::string(tag) + "." + dest.filename().string().substr(0, 150) + ".XXXXXX";
    std::string tmpl = (dir / name).string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    int fd = ::mkostemp(buf.data(), O_CLOEXEC);
    if (fd < 0) return std::unexpected(errno_error(errno, "cannot create a temporary file in", dir, denied_kind));
    // mkstemp makes 0600; objects are shared and immutable, so readable by all is right
    // (and reading the umask would mean changing it, which races with other threads).
    ::fchmod(fd, 0644);
    return TempFile(Fd(fd), fs::path(buf.data()), denied_kind);
}

TempFile::TempFile(TempFile&& o) noexcept
    : fd_(std::move(o.fd_)), path_(std::move(o.path_)), denied_kind_(o.denied_kind_), done_(o.done_) {
    o.done_ = true;
}

TempFile::~TempFile() {
    if (!done_ && !path_.empty()) ::unlink(path_.c_str());
}

Result<void> TempFile::reset() {
    if (::ftruncate(fd_.get(), 0) != 0) return std::unexpected(errno_error(errno, "cannot truncate", path_));
    if (::lseek(fd_.get(), 0, SEEK_SET) != 0) return std::unexpected(errno_error(errno, "cannot seek", path_));
    return ok();
}

Result<void> TempFile::finish(bool durable) {
    if (durable && ::fsync(fd_.get()) != 0) return std::unexpected(errno_error(errno, "cannot fsync", path_));
    return close_reporting(fd_, path_);
}

Result<void> TempFile::commit_replace(const fs::path& dest, bool durable) {
    if (auto r = finish(durable); !r) return r;
    if (::rename(path_.c_str(), dest.c_str()) != 0)
        return std::unexpected(errno_error(errno, "cannot rename onto", dest, denied_kind_));
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
        return std::unexpected(errno_error(err, "cannot rename onto", dest, denied_kind_));
    // The filesystem has no RENAME_NOREPLACE (NFS, some FUSE): link() fails with EEXIST just
    // as atomically; the temp name is then unlinked by the destructor.
    if (::link(path_.c_str(), dest.c_str()) == 0) return ok();
    err = errno;
    if (err == EEXIST) return fail(ErrorKind::conflict, dest.string() + " exists already");
    if (err == EPERM || err == ENOTSUP || err == EOPNOTSUPP)
        return fail(ErrorKind::unsupported, "the filesystem of " + dest.parent_path().string() +
                                                " supports neither RENAME_NOREPLACE nor hard links, so "
                                                "writes without overwrite cannot be made atomic there");
    return std::unexpected(errno_error(err, "cannot link onto", dest, denied_kind_));
}

} // namespace kache::remote::detail
