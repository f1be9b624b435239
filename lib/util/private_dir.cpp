#include <kache/util/private_dir.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace kache::util {

namespace {

std::string uid_text(uid_t uid) { return "uid " + std::to_string(uid); }

Error denied(const fs::path& dir, const std::string& problem, const std::string& fix) {
    return Error{ErrorKind::denied, dir.string() + " " + problem + " (fix: " + fix + ")"};
}

// A symlink is trusted when we or root own it: nobody else can have made it or can change it.
bool trusted_owner(uid_t uid, uid_t me) { return uid == me || uid == 0; }

// Before creating dir: no existing component of its path may be a symlink that another
// user owns (they could point it anywhere later). Only paid when the directory is created.
Result<void> check_components(const fs::path& dir, uid_t me) {
    fs::path walked;
    for (const auto& part : dir) {
        walked /= part;
        struct stat st {};
        if (::lstat(walked.c_str(), &st) != 0) {
            if (errno == ENOENT) return ok(); // the rest is created by us
            return fail(ErrorKind::io, "cannot inspect " + walked.string() + ": " + std::strerror(errno));
        }
        if (S_ISLNK(st.st_mode) && !trusted_owner(st.st_uid, me))
            return std::unexpected(denied(walked, "is a symlink owned by another user (" + uid_text(st.st_uid) + ")",
                                          "use a path that does not go through it"));
    }
    return ok();
}

// Judges the directory behind an lstat result; tightens a directory of ours that others
// can read.
Result<PrivateDir> judge(const fs::path& dir, PrivateDir out, uid_t me) {
    if (S_ISLNK(out.st.st_mode)) {
        if (!trusted_owner(out.st.st_uid, me))
            return std::unexpected(denied(dir, "is a symlink owned by another user (" + uid_text(out.st.st_uid) + ")",
                                          "remove it, or use a directory of your own"));
        if (::stat(dir.c_str(), &out.st) != 0)
            return fail(errno == ENOENT ? ErrorKind::not_found : ErrorKind::io,
                        "cannot use " + dir.string() + ": " + std::strerror(errno));
    }
    if (!S_ISDIR(out.st.st_mode))
        return std::unexpected(denied(dir, "is not a directory", "remove it, or use another directory"));
    if (out.st.st_uid != me)
        return std::unexpected(denied(dir, "is owned by another user (" + uid_text(out.st.st_uid) + ")",
                                      "use a directory of your own, or chown it to " + uid_text(me)));
    if (out.st.st_mode & S_IWOTH)
        return std::unexpected(denied(dir, "is writable by other users", "chmod 700 " + dir.string()));
    // Group-writable by a group other than our own primary one: its members may have
    // planted files already, so tightening now would be too late.
    if ((out.st.st_mode & S_IWGRP) && out.st.st_gid != ::getegid())
        return std::unexpected(denied(dir, "is writable by its group", "chmod 700 " + dir.string()));
    if (out.st.st_mode & (S_IRWXG | S_IRWXO)) {
        // Ours, made by an earlier version under the usual umask: make it private once.
        if (::chmod(dir.c_str(), k_private_dir_mode) != 0)
            return std::unexpected(denied(dir, std::string("cannot be made private: ") + std::strerror(errno),
                                          "chmod 700 " + dir.string()));
        out.st.st_mode = (out.st.st_mode & ~static_cast<mode_t>(07777)) | k_private_dir_mode;
        out.tightened = true;
    }
    return out;
}

} // namespace

Result<PrivateDir> check_private_dir(const fs::path& dir, bool create) {
    uid_t me = ::geteuid();
    PrivateDir out;
    if (::lstat(dir.c_str(), &out.st) == 0) return judge(dir, out, me);
    if (errno != ENOENT)
        return fail(errno == EACCES || errno == ENOTDIR ? ErrorKind::denied : ErrorKind::io,
                    "cannot use " + dir.string() + ": " + std::strerror(errno));
    if (!create) return fail(ErrorKind::not_found, dir.string() + " does not exist");
    if (auto r = check_components(dir, me); !r) return std::unexpected(r.error());
    if (fs::path parent = dir.parent_path(); !parent.empty()) {
        std::error_code ec;
        fs::create_directories(parent, ec);
        if (std::error_code ec2; ec && !fs::is_directory(parent, ec2))
            return fail(ErrorKind::io, "cannot create directory " + parent.string() + ": " + ec.message());
    }
    // mkdir never follows a symlink planted at dir: it fails with EEXIST, and the lstat
    // below judges what is there.
    if (::mkdir(dir.c_str(), k_private_dir_mode) == 0) out.created = true;
    else if (errno != EEXIST)
        return fail(errno == EACCES || errno == EROFS ? ErrorKind::denied : ErrorKind::io,
                    "cannot create directory " + dir.string() + ": " + std::strerror(errno));
    if (::lstat(dir.c_str(), &out.st) != 0)
        return fail(ErrorKind::io, "cannot use " + dir.string() + ": " + std::strerror(errno));
    return judge(dir, out, me);
}

} // namespace kache::util
