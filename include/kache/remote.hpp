// kache/remote.hpp — the remote backend interface and its registry.
//
// A RemoteBackend stores opaque objects under string keys ("v1/packs/serde/<K2>.pack").
// It is deliberately small and synchronous: the daemon calls it from a worker
// pool, `kache sync` from its own threads. Embedders subclass it and register a
// URL scheme so that `remote = "myscheme://..."` in config.toml selects theirs.
//
// Only this interface lives in the core library; the S3 and filesystem backends
// live in the remote library (libkache_remote), which the wrapper never loads.
#pragma once

#include <kache/error.hpp>
#include <kache/util/fs.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace kache::remote {

// One object seen in a listing.
struct ObjectInfo {
    std::string key;         // full key, relative to the backend's root/prefix
    std::uint64_t size = 0;  // bytes
    std::int64_t modified = 0; // last written, seconds since 1970 UTC; 0 when the backend cannot say
};

// The most objects one list() returns. A fleet's bucket holds a few hundred thousand keys
// (docs/scale.md); a listing past this is a server (or a shared directory) that never ends,
// refused before it exhausts memory.
inline constexpr std::size_t k_max_list_keys = 10'000'000;

// Whether put() may replace an existing object.
enum class Overwrite { no, yes };

// An object a backend can hand over in place (open_local): a read-only descriptor
// of a regular file, and its size when opened.
struct LocalObject {
    util::UniqueFd fd;
    std::uint64_t size = 0;
};

class RemoteBackend {
public:
    virtual ~RemoteBackend() = default;

    // Returns true if an object exists at key, false if it does not.
    virtual Result<bool> exists(const std::string& key) = 0;

    // Downloads the object at key into the file at dest (created or truncated),
    // atomically: on failure dest is left absent. ErrorKind::not_found if missing.
    virtual Result<void> get(const std::string& key, const std::filesystem::path& dest) = 0;

    // get() for an object that may be at most max_bytes long (the caller knows its bound):
    // a larger one is refused with ErrorKind::corrupt (retrying fetches the same object)
    // and dest is left absent. Backends override it to stop the download at the bound;
    // this default, for a backend that only has get(), checks the size afterwards.
    virtual Result<void> get_bounded(const std::string& key, const std::filesystem::path& dest,
                                     std::uint64_t max_bytes) {
        if (auto r = get(key, dest); !r) return r;
        std::error_code ec;
        const std::uintmax_t size = std::filesystem::file_size(dest, ec);
        if (!ec && size <= max_bytes) return ok();
        std::filesystem::remove(dest, ec);
        return fail(ErrorKind::corrupt, "remote object " + key + " in " + describe() + " is " +
                                            (ec ? std::string("of unknown size") : std::to_string(size) + " bytes") +
                                            ", more than the " + std::to_string(max_bytes) +
                                            " bytes such an object may be: remove it from the remote");
    }

    // Optional: the object at key opened for reading in place, for a backend whose
    // objects are files on a mounted filesystem, so a pull reads it once instead of
    // copying it first. ErrorKind::unsupported (the default) means "use get()";
    // ErrorKind::not_found if missing. The reader treats the bytes as untrusted and
    // reads each once, so a file replaced or rewritten meanwhile is caught like any
    // other bad object.
    virtual Result<LocalObject> open_local(const std::string& key) {
        return fail(ErrorKind::unsupported, "no local access to " + key);
    }

    // Uploads the file at src to key. With Overwrite::no an existing object is
    // left alone and ErrorKind::conflict is returned (the caller usually treats
    // that as success: objects are content-addressed).
    virtual Result<void> put(const std::string& key, const std::filesystem::path& src,
                             Overwrite overwrite) = 0;

    // Lists every object whose key starts with prefix (all pages). More than
    // k_max_list_keys objects is an error (ErrorKind::server), not a partial list.
    virtual Result<std::vector<ObjectInfo>> list(const std::string& prefix) = 0;

    // Removes the object at key; removing a missing object succeeds.
    virtual Result<void> remove(const std::string& key) = 0;

    // A short human description for status lines ("s3://bucket/prefix at http://...").
    virtual std::string describe() const = 0;
};

// Settings handed to a backend factory: the URL plus free-form options from the
// config file's [remote] table and KACHE_* variables (bucket, endpoint, region, ...).
struct RemoteSpec {
    std::string url;                            // "s3://bucket/prefix", "file:///mnt/cache", "myscheme://..."
    std::map<std::string, std::string> options; // backend-specific settings
    bool read_only = false;                     // KACHE_REMOTE_READONLY=1: never write
};

using BackendFactory = std::function<Result<std::unique_ptr<RemoteBackend>>(const RemoteSpec&)>;

// The registry maps URL schemes ("s3", "file") to factories. The remote library
// registers its built-in schemes; an embedding program adds its own.
class Registry {
public:
    // The process-wide registry.
    static Registry& instance();

    // Registers (or replaces) the factory for scheme.
    void add(const std::string& scheme, BackendFactory factory);

    // Creates the backend for spec.url's scheme; ErrorKind::config for an unknown scheme.
    Result<std::unique_ptr<RemoteBackend>> create(const RemoteSpec& spec) const;

    // The registered schemes, sorted.
    std::vector<std::string> schemes() const;

private:
    std::map<std::string, BackendFactory> factories_;
};

} // namespace kache::remote
