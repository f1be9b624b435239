// read_store: what a kache store holds, read through the public API.
//
//   read_store [STORE_DIR]
//
// Without an argument it reads the store kache itself uses: KACHE_CACHE_DIR, else
// cache_dir from config.toml, else ~/.cache/kache (kache::config resolves that order).
// Prints one block per entry — the package, its version, the invocation key K1 and result
// key K2, and each output file with its size — then the store's usage. It links only the
// core library (no libcurl, OpenSSL or libuv), as the kache wrapper does.
#include <kache/config.hpp>
#include <kache/store.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
    if (argc > 2) {
        std::fprintf(stderr, "usage: read_store [STORE_DIR]\n");
        return 2;
    }
    // config::load() never fails: problems come back as warnings and defaults stay.
    fs::path root = argc == 2 ? fs::path(argv[1]) : kache::config::load().cache_dir;

    // Store::open creates a missing layout; a reader should not, so check first.
    std::error_code ec;
    if (!fs::is_directory(root / "entries", ec)) {
        std::fprintf(stderr, "read_store: %s is not a kache store\n", root.c_str());
        return 1;
    }
    auto store = kache::store::Store::open(root);
    if (!store) {
        std::fprintf(stderr, "read_store: %s\n", store.error().message.c_str());
        return 1;
    }

    // list_entries() reads every entry file; unreadable ones are skipped, not fatal.
    auto entries = store->list_entries();
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) {
        return std::tie(a.crate, a.version, a.k2) < std::tie(b.crate, b.version, b.k2);
    });
    std::printf("store %s\n", store->root().c_str());
    for (const kache::store::Entry& e : entries) {
        std::printf("entry %s %s k1=%s k2=%s outputs=%zu bytes=%llu compile_ms=%lld%s\n",
                    e.crate.empty() ? "?" : e.crate.c_str(), e.version.empty() ? "?" : e.version.c_str(),
                    e.k1.hex().c_str(), e.k2.hex().c_str(), e.outputs.size(),
                    static_cast<unsigned long long>(e.total_size()), static_cast<long long>(e.compile_ms),
                    e.exit_code != 0 ? " (a recorded failure)" : "");
        // Each output is a blob (content-addressed, shared between entries) restored
        // under this name; dep-info is stored with portable sentinel paths.
        for (const auto& o : e.outputs)
            std::printf("  %-48s %10llu %s%s\n", o.name.c_str(), static_cast<unsigned long long>(o.size),
                        o.blob.hex().c_str(), o.dep_info ? " dep-info" : "");
    }

    // usage() counts files on disk: blobs are counted once however many entries share them.
    kache::store::Usage u = store->usage();
    std::printf("usage: %llu entries, %llu manifests, %llu blobs, %llu blob bytes\n",
                static_cast<unsigned long long>(u.entries), static_cast<unsigned long long>(u.manifests),
                static_cast<unsigned long long>(u.blobs), static_cast<unsigned long long>(u.blob_bytes));
    return 0;
}
