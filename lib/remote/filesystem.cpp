#include <kache/remote/filesystem.hpp>

#include "object_key.hpp"
#include "posix_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace kache::remote {

namespace {

namespace fs = std::filesystem;

// Temp files of in-progress writes start with this; listings skip them and keys may not
// look like them.
constexpr std::string_view k_temp_tag = "kache-tmp";
constexpr std::string_view k_temp_prefix = ".kache-tmp.";

// Copies size bytes from in to out, in the kernel where it can (copy_file_range shares
// extents on filesystems that can, and avoids a round trip through user space otherwise).
Result<void> copy_fd(int in, int out, std::uint64_t size, const fs::path& from, const fs::path& to) {
    std::uint64_t done = 0;
    bool kernel_copy = true;
    std::vector<char> buf;
    while (done < size) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(size - done, 1 << 30));
        if (kernel_copy) {
            ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, want, 0);
            if (n > 0) {
                done += static_cast<std::uint64_t>(n);
                continue;
            }
            if (n == 0) return fail(ErrorKind::io, from.string() + " shrank while it was being copied");
            if (errno == EINTR) continue;
            if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP)
                return std::unexpected(detail::errno_error(errno, "cannot copy to", to));
            kernel_copy = false; // e.g. across filesystems on older kernels: plain read/write
            buf.resize(1 << 20);
        }
        ssize_t n = ::read(in, buf.data(), std::min(want, buf.size()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(detail::errno_error(errno, "cannot read", from));
        if (n == 0) return fail(ErrorKind::io, from.string() + " shrank while it was being copied");
        if (auto w = detail::write_all(out, buf.data(), static_cast<std::size_t>(n), to); !w) return w;
        done += static_cast<std::uint64_t>(n);
    }
    return ok();
}

// Opens an object for reading. Anyone who can write the shared directory chooses what
// sits at a key, so the open must not block (a FIFO), follow a link (to a device or to
// another user's file) or accept anything but a regular file (ErrorKind::invalid_input);
// size is what fstat saw, and copy_fd copies exactly that many bytes.
Result<detail::Fd> open_object(const fs::path& path, std::uint64_t& size) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP) return fail(ErrorKind::invalid_input, path.string() + " is a symbolic link");
        return std::unexpected(detail::errno_error(errno, "cannot open", path, ErrorKind::denied, ErrorKind::not_found));
    }
    detail::Fd owner(fd);
    struct stat st{};
    if (::fstat(fd, &st) != 0) return std::unexpected(detail::errno_error(errno, "cannot stat", path));
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::invalid_input, path.string() + " is not a regular file");
    // Blocking again, so a read on a network filesystem never sees EAGAIN.
    if (::fcntl(fd, F_SETFL, O_RDONLY) != 0) return std::unexpected(detail::errno_error(errno, "cannot use", path));
    size = static_cast<std::uint64_t>(st.st_size);
    return owner;
}

} // namespace

Result<std::unique_ptr<FilesystemBackend>> FilesystemBackend::create(const fs::path& root) {
    if (root.empty() || !root.is_absolute())
        return fail(ErrorKind::config, "remote directory '" + root.string() +
                                           "' is not an absolute path: write remote = \"file:///absolute/path\"");
    std::error_code ec;
    auto st = fs::status(root, ec);
    if (ec || !fs::exists(st))
        return fail(ErrorKind::config, "remote directory " + root.string() +
                                           " does not exist: create it (or mount it), or fix the remote URL");
    if (!fs::is_directory(st))
        return fail(ErrorKind::config, "remote path " + root.string() + " is not a directory: fix the remote URL");
    return std::unique_ptr<FilesystemBackend>(new FilesystemBackend(root.lexically_normal()));
}

std::string FilesystemBackend::describe() const { return "file://" + root_.string(); }

Result<fs::path> FilesystemBackend::path_of(const std::string& key) const {
    if (auto v = detail::validate_key(key); !v) return std::unexpected(v.error());
    // A key whose file name looks like a temp file would be invisible to list().
    std::string_view name = key;
    if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
    if (name.starts_with(k_temp_prefix))
        return fail(ErrorKind::invalid_input, "invalid object key '" + key + "': names starting with '" +
                                                  std::string(k_temp_prefix) + "' are reserved");
    return root_ / key;
}

Result<bool> FilesystemBackend::exists(const std::string& key) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    struct stat st{};
    if (::lstat(path->c_str(), &st) != 0) { // a link is not an object (get refuses it)
        if (errno == ENOENT || errno == ENOTDIR) return false;
        return std::unexpected(detail::errno_error(errno, "cannot stat", *path, ErrorKind::denied));
    }
    return S_ISREG(st.st_mode);
}

Result<LocalObject> FilesystemBackend::open_local(const std::string& key) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    LocalObject obj;
    auto in = open_object(*path, obj.size);
    if (!in) {
        if (in.error().kind == ErrorKind::not_found)
            return fail(ErrorKind::not_found, "no object " + key + " in " + describe());
        if (in.error().kind == ErrorKind::invalid_input)
            return fail(ErrorKind::corrupt, "remote object " + key + " in " + describe() +
                                                " is not a regular file: remove it from the remote");
        return std::unexpected(in.error());
    }
    obj.fd = std::move(*in);
    return obj;
}

Result<void> FilesystemBackend::get(const std::string& key, const fs::path& dest) {
    auto result = [&]() -> Result<void> {
        auto in = open_local(key);
        if (!in) return std::unexpected(in.error());
        auto path = path_of(key);
        auto tmp = util::TempFile::create_beside(dest, "kache-get");
        if (!tmp) return std::unexpected(tmp.error());
        if (auto c = copy_fd(in->fd.get(), tmp->fd(), in->size, *path, tmp->path()); !c) return c;
        return tmp->commit_replace(dest, false);
    }();
    if (!result) {
        // The contract: after a failed get, dest does not exist (no stale or partial file).
        std::error_code ec;
        fs::remove(dest, ec);
    }
    return result;
}

namespace {
// A full (or over-quota) shared directory is the remote's trouble, not ours, and passes
// once someone frees space: say so, so the upload queue retries with backoff. Errors name
// their errno last (": <strerror>"), the one place it survives.
Error retryable_if_full(Error e) {
    for (int err : {ENOSPC, EDQUOT})
        if (e.kind == ErrorKind::io && e.message.ends_with(std::string(": ") + std::strerror(err))) {
            e.kind = ErrorKind::server;
            break;
        }
    return e;
}
} // namespace

Result<void> FilesystemBackend::put(const std::string& key, const fs::path& src, Overwrite overwrite) {
    auto r = put_once(key, src, overwrite);
    if (!r) return std::unexpected(retryable_if_full(std::move(r.error())));
    return r;
}

Result<void> FilesystemBackend::put_once(const std::string& key, const fs::path& src, Overwrite overwrite) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    auto in = detail::open_read(src);
    if (!in) return std::unexpected(in.error());
    struct stat st{};
    if (::fstat(in->get(), &st) != 0) return std::unexpected(detail::errno_error(errno, "cannot stat", src));
    if (!S_ISREG(st.st_mode)) return fail(ErrorKind::invalid_input, src.string() + " is not a regular file");

    std::error_code ec;
    fs::create_directories(path->parent_path(), ec);
    if (ec) return std::unexpected(detail::errno_error(ec.value(), "cannot create directory", path->parent_path(),
                                                       ErrorKind::denied));
    auto tmp = util::TempFile::create_beside(*path, k_temp_tag, ErrorKind::denied);
    if (!tmp) return std::unexpected(tmp.error());
    if (auto c = copy_fd(in->get(), tmp->fd(), static_cast<std::uint64_t>(st.st_size), src, tmp->path()); !c)
        return c;
    // Durable before it becomes visible: on a shared mount another machine may read it at
    // once, and after a crash a renamed-but-empty object would be worse than none.
    auto committed = overwrite == Overwrite::yes ? tmp->commit_replace(*path, true) : tmp->commit_no_replace(*path, true);
    if (!committed && committed.error().kind == ErrorKind::conflict)
        return fail(ErrorKind::conflict, "object " + key + " exists already in " + describe());
    return committed;
}

Result<std::vector<ObjectInfo>> FilesystemBackend::list(const std::string& prefix) {
    if (auto v = detail::validate_prefix(prefix); !v) return std::unexpected(v.error());
    std::vector<ObjectInfo> out;
    // Start at the deepest directory the prefix names completely; descend only into
    // directories that can hold keys with the prefix.
    std::string start = prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
    std::vector<std::string> pending{start};
    while (!pending.empty()) {
        std::string rel = std::move(pending.back()); // "" or "a/b/"
        pending.pop_back();
        const fs::path dir = rel.empty() ? root_ : root_ / rel;
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            // A directory removed by a concurrent remove() or never created: nothing there.
            if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory) continue;
            return std::unexpected(detail::errno_error(ec.value(), "cannot list", dir, ErrorKind::denied));
        }
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            const std::string name = it->path().filename().string();
            if (name.starts_with(k_temp_prefix)) continue;
            const std::string key = rel + name;
            std::error_code sec;
            auto st = it->status(sec);
            if (sec) continue; // vanished between readdir and stat
            if (fs::is_directory(st)) {
                const std::string sub = key + "/";
                if (sub.starts_with(prefix) || prefix.starts_with(sub)) pending.push_back(sub);
            } else if (fs::is_regular_file(st) && key.starts_with(prefix)) {
                auto size = it->file_size(sec);
                if (sec) continue;
                auto mtime = it->last_write_time(sec);
                if (sec) continue;
                auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::file_clock::to_sys(mtime).time_since_epoch()).count();
                out.push_back({key, static_cast<std::uint64_t>(size), static_cast<std::int64_t>(secs)});
            }
        }
        if (ec) return std::unexpected(detail::errno_error(ec.value(), "cannot list", dir, ErrorKind::denied));
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
}

Result<void> FilesystemBackend::remove(const std::string& key) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    if (::unlink(path->c_str()) != 0 && errno != ENOENT && errno != ENOTDIR)
        return std::unexpected(detail::errno_error(errno, "cannot remove", *path, ErrorKind::denied));
    return ok();
}

} // namespace kache::remote
