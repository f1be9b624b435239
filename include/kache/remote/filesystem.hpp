// kache/remote/filesystem.hpp — a remote that is a directory (an NFS or SMB mount, a
// directory shared by the users of one machine, a CI cache volume).
//
//   auto fsr = kache::remote::FilesystemBackend::create("/mnt/kache");
//   if (fsr) (*fsr)->put("v1/packs/serde/k.pack", "/tmp/k.pack", Overwrite::no);
//
// The object "a/b/c" is the file <root>/a/b/c. Every write goes to a temporary file in the
// destination's directory and is renamed into place, so a reader sees the whole object or
// none of it. Keys are checked (relative, no empty, "." or ".." components) before any path
// is built from them, so no key reaches outside the root.
//
// Thread safety: stateless apart from the root; any number of threads and processes (on
// any number of machines sharing the directory) may use it at once.
#pragma once

#include <kache/remote.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>

namespace kache::remote {

class FilesystemBackend final : public RemoteBackend {
public:
    // root must be an absolute path to an existing directory (it is not created: a missing
    // mount should be reported, not papered over). ErrorKind::config otherwise.
    static Result<std::unique_ptr<FilesystemBackend>> create(const std::filesystem::path& root);

    // True if <root>/key is a regular file.
    Result<bool> exists(const std::string& key) override;
    // Copies <root>/key to a temp file beside dest, then renames it onto dest. On failure
    // dest does not exist. ErrorKind::not_found if there is no such object.
    Result<void> get(const std::string& key, const std::filesystem::path& dest) override;
    // get(), refusing (ErrorKind::corrupt) an object larger than max_bytes before copying it.
    Result<void> get_bounded(const std::string& key, const std::filesystem::path& dest,
                             std::uint64_t max_bytes) override;
    // The object's own file, opened as get() opens it (no link, no FIFO, regular only).
    Result<LocalObject> open_local(const std::string& key) override;
    // Copies src to a temp file beside <root>/key (creating directories), fsyncs it, and
    // renames it into place. With Overwrite::no an existing object is never replaced, even by
    // a racing writer on another machine: ErrorKind::conflict.
    Result<void> put(const std::string& key, const std::filesystem::path& src, Overwrite overwrite) override;
    // Walks the directories under prefix; keys use '/' and are sorted. Temp files are skipped.
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override;
    // Unlinks <root>/key; a missing object is success.
    Result<void> remove(const std::string& key) override;
    // "file:///mnt/kache"
    std::string describe() const override;

    const std::filesystem::path& root() const noexcept { return root_; }

private:
    explicit FilesystemBackend(std::filesystem::path root) : root_(std::move(root)) {}
    Result<std::filesystem::path> path_of(const std::string& key) const;
    Result<void> put_once(const std::string& key, const std::filesystem::path& src, Overwrite overwrite);

    std::filesystem::path root_;
};

} // namespace kache::remote
