// lib/remote/posix_file.hpp — RAII owners for descriptors and temp files used by the
// remote backends (private to libkache_remote).
#pragma once

#include <kache/error.hpp>
#include <kache/util/fs.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace kache::remote::detail {

// The descriptor owner is util's; closing with an error report is the extra
// the remote needs (a failed close on NFS can mean lost writes).
using Fd = util::UniqueFd;
Result<void> close_reporting(Fd& fd, const std::filesystem::path& what);

// An error for a failed system call on `what`. EACCES/EPERM/EROFS map to `denied_kind`
// (ErrorKind::denied for the shared remote directory, ErrorKind::io for local files),
// ENOENT/ENOTDIR to `missing_kind` (ErrorKind::not_found only where the path is a remote
// object: a missing local file is an io failure, not a missing object), the rest to io.
Error errno_error(int err, std::string_view op, const std::filesystem::path& what,
                  ErrorKind denied_kind = ErrorKind::io, ErrorKind missing_kind = ErrorKind::io);

// Opens path read-only (O_CLOEXEC); errors as errno_error.
Result<Fd> open_read(const std::filesystem::path& path, ErrorKind denied_kind = ErrorKind::io,
                     ErrorKind missing_kind = ErrorKind::io);

// Writes all of [data, data+size) to fd, retrying short writes and EINTR.
Result<void> write_all(int fd, const char* data, std::size_t size, const std::filesystem::path& what);

// A new file beside its destination (same directory, so rename is atomic) that is removed
// on destruction unless one of the commit calls succeeded. Readers of the destination never
// see it half-written.
class TempFile {
public:
    // Creates "<dir of dest>/.<tag>.<name of dest>.XXXXXX" with mode 0644.
    static Result<TempFile> create_beside(const std::filesystem::path& dest, std::string_view tag,
                                          ErrorKind denied_kind = ErrorKind::io);

    TempFile(TempFile&& o) noexcept;
    TempFile& operator=(TempFile&&) = delete;
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile();

    int fd() const noexcept { return fd_.get(); }
    const std::filesystem::path& path() const noexcept { return path_; }

    // Empties the file and rewinds it (a retried download starts over).
    Result<void> reset();
    // Optionally fsyncs, closes, and renames onto dest, replacing whatever is there.
    Result<void> commit_replace(const std::filesystem::path& dest, bool durable);
    // Optionally fsyncs, closes, and moves onto dest only if dest does not exist:
    // ErrorKind::conflict if it does. Uses renameat2(RENAME_NOREPLACE), or link()+unlink()
    // on filesystems without it, so two writers racing for dest never replace each other.
    Result<void> commit_no_replace(const std::filesystem::path& dest, bool durable);

private:
    TempFile(Fd fd, std::filesystem::path path, ErrorKind denied_kind)
        : fd_(std::move(fd)), path_(std::move(path)), denied_kind_(denied_kind) {}
    Result<void> finish(bool durable);

    Fd fd_;
    std::filesystem::path path_;
    ErrorKind denied_kind_;
    bool done_ = false;
};

} // namespace kache::remote::detail
