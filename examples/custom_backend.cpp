// custom_backend: plugging a remote of your own into kache.
//
//   custom_backend FROM_STORE TO_STORE MIRROR_DIR
//
// kache talks to a remote only through kache::remote::RemoteBackend (five verbs: exists,
// get, put, list, remove). This program implements one — a "mirror" that keeps every
// object as one file in a flat directory, its key escaped ("v1/packs/serde/k.pack" is the
// file "v1%2Fpacks%2Fserde%2Fk.pack"), a layout unlike the built-in file:// backend's —
// registers it under the URL scheme "mirror", then pushes every entry of FROM_STORE to
// mirror://MIRROR_DIR and pulls all of them into TO_STORE with kache::remote::sync, the
// same code `kache sync` runs. TO_STORE can then serve a build with no compiles.
#include <kache/remote.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;
using kache::ErrorKind;
using kache::fail;
using kache::Result;
using namespace kache::remote;

namespace {

// The remote: a directory with one file per object.
class MirrorBackend final : public RemoteBackend {
public:
    explicit MirrorBackend(fs::path dir) : dir_(std::move(dir)) {}

    Result<bool> exists(const std::string& key) override {
        std::error_code ec;
        return fs::is_regular_file(file_of(key), ec);
    }

    // The contract: dest appears whole or not at all, and a missing object is not_found.
    Result<void> get(const std::string& key, const fs::path& dest) override {
        fs::path tmp = dest;
        tmp += ".part" + unique_suffix();
        std::error_code ec;
        fs::copy_file(file_of(key), tmp, fs::copy_options::overwrite_existing, ec);
        if (!ec) fs::rename(tmp, dest, ec);
        if (!ec) return {};
        std::error_code ignored;
        fs::remove(tmp, ignored);
        if (ec == std::errc::no_such_file_or_directory) return fail(ErrorKind::not_found, "no object " + key);
        return fail(ErrorKind::io, "cannot read " + key + " from " + dir_.string() + ": " + ec.message());
    }

    // Stage beside the object, then publish atomically. With Overwrite::no, link(2) refuses
    // to replace an existing object, and the caller gets ErrorKind::conflict, which sync
    // treats as success (objects are content-addressed: whoever wrote it first wrote the same).
    Result<void> put(const std::string& key, const fs::path& src, Overwrite overwrite) override {
        fs::path tmp = dir_ / (".part" + unique_suffix());
        std::error_code ec;
        fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
        if (ec) return fail(ErrorKind::io, "cannot stage " + key + ": " + ec.message());
        Result<void> r;
        if (overwrite == Overwrite::yes) {
            fs::rename(tmp, file_of(key), ec);
            if (ec) r = fail(ErrorKind::io, "cannot store " + key + ": " + ec.message());
        } else if (::link(tmp.c_str(), file_of(key).c_str()) != 0) {
            r = errno == EEXIST ? fail(ErrorKind::conflict, key + " exists")
                                : fail(ErrorKind::io, "cannot store " + key + ": " + std::strerror(errno));
        }
        fs::remove(tmp, ec);
        return r;
    }

    // Every object whose key starts with prefix: here one directory read, filtered.
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override {
        std::vector<ObjectInfo> out;
        std::error_code ec;
        for (auto it = fs::directory_iterator(dir_, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
            std::string name = it->path().filename().string();
            if (name.starts_with(".")) continue; // a put in progress
            std::string key = unescape(name);
            std::error_code size_ec; // an object removed meanwhile is simply not listed
            std::uint64_t size = it->file_size(size_ec);
            if (key.starts_with(prefix) && !size_ec) out.push_back({key, size});
        }
        if (ec) return fail(ErrorKind::io, "cannot list " + dir_.string() + ": " + ec.message());
        std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
        return out;
    }

    Result<void> remove(const std::string& key) override {
        std::error_code ec;
        fs::remove(file_of(key), ec); // a missing object is success
        if (ec) return fail(ErrorKind::io, "cannot remove " + key + ": " + ec.message());
        return {};
    }

    std::string describe() const override { return "mirror://" + dir_.string(); }

private:
    // '%', '/' and a leading '.' are escaped, so every key is one safe file name and back.
    fs::path file_of(const std::string& key) const {
        std::string name;
        for (char c : key) {
            if (c == '%' || c == '/' || (c == '.' && name.empty())) {
                char hex[4];
                std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
                name += hex;
            } else {
                name.push_back(c);
            }
        }
        return dir_ / name;
    }
    static std::string unescape(const std::string& name) {
        std::string key;
        auto hex = [](char c) { return c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= '0' && c <= '9' ? c - '0' : -1; };
        for (size_t i = 0; i < name.size(); ++i) {
            if (name[i] == '%' && i + 2 < name.size() && hex(name[i + 1]) >= 0 && hex(name[i + 2]) >= 0) {
                key.push_back(static_cast<char>(hex(name[i + 1]) * 16 + hex(name[i + 2])));
                i += 2;
            } else {
                key.push_back(name[i]);
            }
        }
        return key;
    }
    static std::string unique_suffix() {
        static std::atomic<unsigned> n{0};
        return "." + std::to_string(::getpid()) + "." + std::to_string(n++);
    }

    fs::path dir_;
};

void print(const char* what, const SyncReport& r) {
    std::printf("%s: %zu pushed (%llu bytes), %zu pulled (%llu bytes), %zu up to date, %zu failed, %.2f s\n", what,
                r.pushed, static_cast<unsigned long long>(r.bytes_up), r.pulled,
                static_cast<unsigned long long>(r.bytes_down), r.up_to_date, r.failed, r.seconds);
    for (auto& e : r.errors) std::fprintf(stderr, "  failed: %s\n", e.c_str());
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: custom_backend FROM_STORE TO_STORE MIRROR_DIR\n");
        return 2;
    }

    // 1. Register the scheme. A factory turns a RemoteSpec (the URL plus options from
    //    config.toml's [remote] table) into a backend, or says why it cannot.
    Registry::instance().add("mirror", [](const RemoteSpec& spec) -> Result<std::unique_ptr<RemoteBackend>> {
        constexpr std::string_view scheme = "mirror://";
        fs::path dir = std::string_view(spec.url).substr(scheme.size());
        std::error_code ec;
        if (!fs::is_directory(dir, ec)) return fail(ErrorKind::config, "mirror directory " + dir.string() + " does not exist");
        return std::make_unique<MirrorBackend>(dir);
    });

    // 2. Open both stores (created if needed).
    auto from = kache::store::Store::open(argv[1]);
    auto to = kache::store::Store::open(argv[2]);
    if (!from || !to) {
        std::fprintf(stderr, "custom_backend: %s\n", (!from ? from : to).error().message.c_str());
        return 1;
    }

    // 3. sync() wants a BackendMaker: it calls it once per worker thread, so a backend
    //    never has to be thread-safe. Going through the registry is what kache does with
    //    `remote = "mirror://..."`; an embedder could also construct MirrorBackend directly.
    fs::create_directories(argv[3]);
    RemoteSpec spec{"mirror://" + fs::absolute(argv[3]).string(), {}, false};
    BackendMaker make = [&spec] { return Registry::instance().create(spec); };

    // 4. Push what FROM_STORE has and the mirror lacks: a pack and a manifest object per entry.
    SyncOptions push_only;
    push_only.pull = false;
    push_only.jobs = 4;
    auto pushed = sync(*from, make, push_only);
    if (!pushed) {
        std::fprintf(stderr, "custom_backend: push: %s\n", pushed.error().message.c_str());
        return 1;
    }
    print("push", *pushed);

    // 5. Pull everything the mirror has into TO_STORE (SyncOptions::crates would limit it
    //    to some packages, as `kache sync --pull` does with the packages of a Cargo.lock).
    SyncOptions pull_only;
    pull_only.push = false;
    pull_only.jobs = 4;
    auto pulled = sync(*to, make, pull_only);
    if (!pulled) {
        std::fprintf(stderr, "custom_backend: pull: %s\n", pulled.error().message.c_str());
        return 1;
    }
    print("pull", *pulled);
    return pushed->failed + pulled->failed == 0 ? 0 : 1;
}
