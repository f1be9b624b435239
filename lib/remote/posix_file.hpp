// lib/remote/posix_file.hpp — errno reporting and descriptor helpers used by the remote
// backends (private to libkache_remote).
#pragma once

#include <kache/error.hpp>
#include <kache/util/fs.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace kache::remote::detail {

// The descriptor owner is util's.
using Fd = util::UniqueFd;

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

} // namespace kache::remote::detail
