#include "posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kache::remote::detail {

namespace fs = std::filesystem;

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

} // namespace kache::remote::detail
