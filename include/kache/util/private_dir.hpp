// kache/util/private_dir.hpp — a directory that only this user controls.
//
// A directory that another user owns, can write, or can redirect through a symlink of
// theirs lets that user swap what is read from it. These checks decide whether a
// directory is private enough to trust, and create one that is.
#pragma once

#include <kache/util/fs.hpp>

#include <sys/stat.h>

#include <filesystem>

namespace kache::util {

// What check_private_dir found.
struct PrivateDir {
    // True if dir was missing and has just been created (mode k_private_dir_mode).
    bool created = false;
    // True if dir was ours but readable by others (made by an earlier version) and
    // has been tightened to k_private_dir_mode.
    bool tightened = false;
    // stat(2) of the directory itself (after following a symlink of ours).
    struct stat st {};
};

// Checks that dir is private to the effective user, with one lstat(2) when it is a plain
// directory: owned by us, not group- or world-writable, and, if dir is a symlink, a symlink
// owned by us (or root) to such a directory. A directory of ours that others can read or
// that is group-writable by our own primary group (what an earlier version left behind
// under umask 022 or 002) is tightened to 0700 instead of refused. With create, a missing
// dir is created 0700 (its missing parents with the usual mode, refusing to go through a
// symlink owned by someone else). Errors: ErrorKind::denied for a directory that must not
// be used (the message names the fix: chmod or chown), ErrorKind::not_found when missing
// and not created, ErrorKind::io otherwise.
Result<PrivateDir> check_private_dir(const std::filesystem::path& dir, bool create);

} // namespace kache::util
