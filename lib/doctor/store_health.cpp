// The store's directory (ownership, modes), room (free space against max_size) and reflinks.
#include <kache/doctor.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>

namespace kache::doctor {

namespace fs = std::filesystem;

namespace {

// Bytes written to the reflink probe: one block, so FICLONE has something to share.
inline constexpr std::size_t k_reflink_probe_bytes = 4096;

std::string octal(mode_t m) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", unsigned(m & 07777));
    return buf;
}

// The problems of one directory of the store, judged from its stat.
void judge_dir(const fs::path& dir, const struct stat& st, std::vector<Finding>& out) {
    const std::string chmod = "chmod 700 " + dir.string();
    if (st.st_uid != ::geteuid()) {
        out.push_back({Status::problem,
                       dir.string() + " is owned by uid " + std::to_string(st.st_uid) +
                           ", not by you: kache refuses it and builds run uncached",
                       "set KACHE_CACHE_DIR to a directory of yours, or chown -R " + std::to_string(::geteuid()) +
                           " " + dir.string()});
        return;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH))
        out.push_back({Status::problem,
                       dir.string() + " is writable by " + ((st.st_mode & S_IWOTH) ? "every user" : "its group") +
                           " (mode " + octal(st.st_mode) + "): others could swap what your builds restore",
                       chmod});
    else if (st.st_mode & (S_IRWXG | S_IRWXO))
        out.push_back({Status::problem,
                       dir.string() + " can be read by others (mode " + octal(st.st_mode) +
                           "): they can read your artifacts",
                       chmod});
}

} // namespace

std::vector<Finding> check_store_dir(const fs::path& dir) {
    std::vector<Finding> out;
    struct stat lst {};
    if (::lstat(dir.c_str(), &lst) != 0) {
        if (errno == ENOENT)
            out.push_back({Status::note, "store " + dir.string() + " does not exist yet (the first build creates it)", {}});
        else
            out.push_back({Status::problem, "cannot look at the store " + dir.string() + ": " + std::strerror(errno),
                           "check the permissions of its parent directories, or set KACHE_CACHE_DIR"});
        return out;
    }
    struct stat st = lst;
    if (S_ISLNK(lst.st_mode)) {
        if (lst.st_uid != ::geteuid() && lst.st_uid != 0) {
            out.push_back({Status::problem,
                           "store " + dir.string() + " is a symlink owned by uid " + std::to_string(lst.st_uid) +
                               ": another user decides where your store is",
                           "remove the symlink (kache creates a private store there)"});
            return out;
        }
        if (::stat(dir.c_str(), &st) != 0) {
            out.push_back({Status::problem, "store " + dir.string() + " is a dangling symlink",
                           "remove the symlink, or create its target with mode 0700"});
            return out;
        }
    }
    if (!S_ISDIR(st.st_mode)) {
        out.push_back({Status::problem, "store " + dir.string() + " is not a directory",
                       "remove it, or set KACHE_CACHE_DIR to a directory"});
        return out;
    }
    std::size_t before = out.size();
    judge_dir(dir, st, out);
    // The folders kache makes inside it: a problem there is as bad as one at the top.
    for (const char* sub : {"blobs", "entries", "manifests", "upload-queue", "events", "tmp", "locks", "hashcache", "seen"}) {
        struct stat s {};
        if (::lstat((dir / sub).c_str(), &s) != 0) continue;
        if (S_ISLNK(s.st_mode)) {
            out.push_back({Status::problem, (dir / sub).string() + " is a symlink: the store's folders must be its own",
                           "remove it (kache recreates it)"});
            continue;
        }
        if (S_ISDIR(s.st_mode)) judge_dir(dir / sub, s, out);
    }
    if (out.size() == before)
        out.push_back({Status::ok, "store " + dir.string() + " is private (yours, mode " + octal(st.st_mode) + ")", {}});
    return out;
}

std::vector<Finding> check_store_room(const store::Store& store, std::uint64_t max_size) {
    std::vector<Finding> out;
    struct statvfs vfs {};
    if (::statvfs(store.root().c_str(), &vfs) != 0) {
        out.push_back({Status::problem, "cannot read the free space of " + store.root().string() + ": " + std::strerror(errno),
                       "check the filesystem of KACHE_CACHE_DIR"});
    } else {
        std::uint64_t avail = std::uint64_t(vfs.f_bavail) * std::uint64_t(vfs.f_frsize);
        std::uint64_t used = store.usage().blob_bytes;
        std::string figures = util::human_bytes(avail) + " free on the store's filesystem, the store holds " +
                              util::human_bytes(used) + ", max_size is " + util::human_bytes(max_size);
        if (avail + used < max_size)
            out.push_back({Status::problem, figures + ": the disk fills before the cap is reached",
                           "free some space, or lower max_size in config.toml (or KACHE_MAX_SIZE)"});
        else
            out.push_back({Status::ok, figures, {}});
    }

    // Reflink: restores clone blobs when the filesystem can, else link or copy them.
    auto tmp = store.tmp_dir();
    if (auto made = util::make_private_dirs(tmp); !made) {
        out.push_back({Status::problem, "cannot create " + tmp.string() + ": " + made.error().message,
                       "check the store's permissions"});
        return out;
    }
    auto src = util::TempFile::create(tmp);
    if (!src) {
        out.push_back({Status::problem, "cannot write in " + tmp.string() + ": " + src.error().message,
                       "check the store's permissions and free space"});
        return out;
    }
    std::array<char, k_reflink_probe_bytes> block{};
    (void)src->write(std::string_view(block.data(), block.size()));
    auto clone = util::ScopedUnlink::unique_in(tmp, "doctor-reflink");
    if (util::reflink_file(src->path(), clone.path(), util::k_private_file_mode))
        out.push_back({Status::ok, "the store's filesystem supports reflinks (restores clone blobs)", {}});
    else
        out.push_back({Status::note, "the store's filesystem has no reflinks: restores hardlink or copy blobs", {}});
    return out;
}

} // namespace kache::doctor
