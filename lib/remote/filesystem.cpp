#include <kache/remote/filesystem.hpp>

#include "object_key.hpp"
#include "posix_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <memory>
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

// A key's folder, opened one component at a time from the root without following a
// symbolic link: anyone who can write the shared directory can put a link where a folder
// belongs, to send our reads, writes and GC's removals into a folder of their choosing
// (ours, or another remote's). fd is the key's parent folder, name its last component.
struct KeyDir {
    detail::Fd fd;
    std::string name;
    fs::path shown; // <root>/key, for messages

    // A path to the object that the kernel resolves through fd, not through the folders
    // again, for the calls that take paths (temp file, rename, link). Without /proc the
    // plain path is used: the walk has checked it, and only a race is left open.
    fs::path via() const {
        static const bool have_proc = ::access("/proc/self/fd", X_OK) == 0;
        if (!have_proc) return shown;
        return fs::path("/proc/self/fd/" + std::to_string(fd.get())) / name;
    }
};

// ErrorKind::not_found when a folder on the way is missing (or a file); invalid_input
// when one is a symbolic link. create: missing folders are made (mode 0777 less the umask,
// as a shared directory's writers expect).
Result<KeyDir> open_key_dir(const fs::path& root, const std::string& key, bool create) {
    KeyDir kd;
    kd.shown = root / key;
    int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); // the configured root may be a link
    if (fd < 0) return std::unexpected(detail::errno_error(errno, "cannot open", root, ErrorKind::denied, ErrorKind::io));
    detail::Fd cur(fd);
    std::size_t i = 0;
    for (std::size_t j; (j = key.find('/', i)) != std::string::npos; i = j + 1) {
        const std::string comp = key.substr(i, j - i);
        const fs::path here = root / key.substr(0, j);
        int next = ::openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (::mkdirat(cur.get(), comp.c_str(), 0777) != 0 && errno != EEXIST)
                return std::unexpected(detail::errno_error(errno, "cannot create directory", here, ErrorKind::denied));
            next = ::openat(cur.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (next < 0) {
            int err = errno;
            struct stat st{};
            if ((err == ELOOP || err == ENOTDIR) && ::fstatat(cur.get(), comp.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISLNK(st.st_mode))
                return fail(ErrorKind::invalid_input, here.string() + " is a symbolic link where the remote has a "
                                                                      "folder: remove it from the remote");
            return std::unexpected(detail::errno_error(err, "cannot open", here, ErrorKind::denied, ErrorKind::not_found));
        }
        cur = detail::Fd(next);
    }
    kd.fd = std::move(cur);
    kd.name = key.substr(i);
    return kd;
}

// Opens an object for reading. Anyone who can write the shared directory chooses what
// sits at a key, so the open must not block (a FIFO), follow a link (to a device or to
// another user's file) or accept anything but a regular file (ErrorKind::invalid_input);
// size is what fstat saw, and copy_fd copies exactly that many bytes.
Result<detail::Fd> open_object(const KeyDir& kd, std::uint64_t& size) {
    const fs::path& path = kd.shown;
    int fd = ::openat(kd.fd.get(), kd.name.c_str(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
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

// Messages name the shared directory's folders, not the /proc path they were reached by.
Error shown_as(Error e, const KeyDir& kd) {
    const std::string via = kd.via().parent_path().string(), real = kd.shown.parent_path().string();
    for (std::size_t at; !via.empty() && (at = e.message.find(via)) != std::string::npos;)
        e.message.replace(at, via.size(), real);
    return e;
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
    auto kd = open_key_dir(root_, key, false);
    if (!kd) {
        if (kd.error().kind == ErrorKind::not_found) return false;
        return std::unexpected(kd.error());
    }
    struct stat st{};
    if (::fstatat(kd->fd.get(), kd->name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) { // a link is not an object
        if (errno == ENOENT || errno == ENOTDIR) return false;
        return std::unexpected(detail::errno_error(errno, "cannot stat", *path, ErrorKind::denied));
    }
    return S_ISREG(st.st_mode);
}

Result<LocalObject> FilesystemBackend::open_local(const std::string& key) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    LocalObject obj;
    auto kd = open_key_dir(root_, key, false);
    auto in = kd ? open_object(*kd, obj.size) : Result<detail::Fd>(std::unexpected(kd.error()));
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
    return get_bounded(key, dest, std::numeric_limits<std::uint64_t>::max());
}

Result<void> FilesystemBackend::get_bounded(const std::string& key, const fs::path& dest, std::uint64_t max_bytes) {
    auto result = [&]() -> Result<void> {
        auto in = open_local(key);
        if (!in) return std::unexpected(in.error());
        // Refused by its size before a byte is copied: whoever writes the shared directory
        // could otherwise fill the disk beside the store.
        if (in->size > max_bytes)
            return fail(ErrorKind::corrupt, "remote object " + key + " in " + describe() + " is " +
                                                std::to_string(in->size) + " bytes, more than the " +
                                                std::to_string(max_bytes) +
                                                " bytes such an object may be: remove it from the remote");
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

    auto kd = open_key_dir(root_, key, true);
    if (!kd) return std::unexpected(kd.error());
    const fs::path dest = kd->via();
    auto tmp = util::TempFile::create_beside(dest, k_temp_tag, ErrorKind::denied);
    if (!tmp) return std::unexpected(shown_as(tmp.error(), *kd));
    if (auto c = copy_fd(in->get(), tmp->fd(), static_cast<std::uint64_t>(st.st_size), src, tmp->path()); !c)
        return std::unexpected(shown_as(c.error(), *kd));
    // Durable before it becomes visible: on a shared mount another machine may read it at
    // once, and after a crash a renamed-but-empty object would be worse than none.
    auto committed = overwrite == Overwrite::yes ? tmp->commit_replace(dest, true) : tmp->commit_no_replace(dest, true);
    if (!committed && committed.error().kind == ErrorKind::conflict)
        return fail(ErrorKind::conflict, "object " + key + " exists already in " + describe());
    if (!committed) return std::unexpected(shown_as(committed.error(), *kd));
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
        // Opened as a key's folder is (no link followed on the way), then read by fd.
        auto kd = open_key_dir(root_, rel + ".", false);
        if (!kd) {
            // Removed by a concurrent remove(), never created, or a link: nothing of ours there.
            if (kd.error().kind == ErrorKind::not_found || kd.error().kind == ErrorKind::invalid_input) continue;
            return std::unexpected(kd.error());
        }
        std::unique_ptr<DIR, int (*)(DIR*)> d(::fdopendir(kd->fd.get()), ::closedir);
        if (!d) return std::unexpected(detail::errno_error(errno, "cannot list", dir, ErrorKind::denied));
        (void)kd->fd.release(); // closedir closes it
        for (;;) {
            errno = 0; // readdir's end and its failure differ only in errno
            struct dirent* ent = ::readdir(d.get());
            if (!ent) break;
            const std::string name = ent->d_name;
            if (name == "." || name == ".." || name.starts_with(k_temp_prefix)) continue;
            const std::string key = rel + name;
            // A link is neither an object nor a folder of the remote: following one would
            // list (and let GC remove) what it points at, or walk in a circle.
            struct stat st{};
            if (::fstatat(::dirfd(d.get()), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue; // gone since
            if (S_ISDIR(st.st_mode)) {
                const std::string sub = key + "/";
                // Below a folder whose name is already as long as a key may be, no key can
                // be: a chain of folders nested without end is not walked.
                if (sub.size() >= detail::k_max_key_bytes) continue;
                if (sub.starts_with(prefix) || prefix.starts_with(sub)) pending.push_back(sub);
            } else if (S_ISREG(st.st_mode) && key.starts_with(prefix)) {
                if (out.size() >= k_max_list_keys)
                    return fail(ErrorKind::server, "listing " + prefix + " in " + describe() + " runs past " +
                                                       std::to_string(k_max_list_keys) +
                                                       " objects, the most kache keeps: point the remote at a "
                                                       "directory that holds kache's objects alone");
                out.push_back({key, static_cast<std::uint64_t>(st.st_size), static_cast<std::int64_t>(st.st_mtim.tv_sec)});
            }
        }
        if (errno != 0) return std::unexpected(detail::errno_error(errno, "cannot list", dir, ErrorKind::denied));
    }
    std::sort(out.begin(), out.end(), [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
    return out;
}

Result<void> FilesystemBackend::remove(const std::string& key) {
    auto path = path_of(key);
    if (!path) return std::unexpected(path.error());
    auto kd = open_key_dir(root_, key, false);
    if (!kd) {
        if (kd.error().kind == ErrorKind::not_found) return ok();
        return std::unexpected(kd.error());
    }
    if (::unlinkat(kd->fd.get(), kd->name.c_str(), 0) != 0 && errno != ENOENT && errno != ENOTDIR)
        return std::unexpected(detail::errno_error(errno, "cannot remove", *path, ErrorKind::denied));
    return ok();
}

} // namespace kache::remote
