// kache/remote/transfer.hpp — moving one entry between a store and a remote, the
// exchange the daemon (uploads, remote checks, prefetch) and `kache sync` share.
//
//   auto up = remote::push_entry(store, backend, k2);          // pack first, then manifest
//   auto n = remote::pull_entry(store, backend, manifest_key); // verified before commit
//
// Objects are content-addressed, so pushing what the remote already has succeeds, and a
// manifest object never names a pack the remote lacks (the pack is uploaded first).
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/remote.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/pack.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace kache::remote {

// What push_entry did.
enum class PushOutcome {
    pushed,         // the pack and the manifest object are on the remote (now or already)
    entry_gone,     // the store no longer holds the entry: nothing to upload
    input_set_gone, // its manifest no longer lists the input set that produced it (the cap
                    // keeps the newest), so nothing could ever find it: nothing to share
};

struct PushResult {
    PushOutcome outcome = PushOutcome::pushed;
    std::uint64_t bytes = 0; // pack plus manifest object, when pushed
};

// Uploads entry k2 of store: finds the input set that produced it, packs the entry to a
// temp file in the store's tmp dir, uploads the pack, then the manifest object. An object
// that is already there (ErrorKind::conflict) counts as uploaded. Errors are the store's
// or the backend's (retryable() says whether trying again may help).
Result<PushResult> push_entry(const store::Store& store, RemoteBackend& backend, const hash::Digest& k2);
// The same for an entry already read from the store.
Result<PushResult> push_entry(const store::Store& store, RemoteBackend& backend, const store::Entry& entry);

// Imports one entry from the remote: its manifest object (K1/K2, see parse_manifest_key),
// then, unless the store has the entry already, its pack, verifying K2 = H(K1, input set)
// and the pack's contents before anything is committed; finally adds the input set to the
// K1 manifest. Returns the bytes downloaded. ErrorKind::corrupt for a key or object that
// is not what it claims.
//
// With a non-empty origin ("remote", "prefetched"), an entry the store lacked is marked
// with it before it lands (a wrapper may find it the moment it is committed and must count
// it as imported), and unmarked again if the pull fails.
//
// limits bound what the pack may unpack to (PackLimits::for_max_size of the store's cap).
Result<std::uint64_t> pull_entry(store::Store& store, RemoteBackend& backend, const std::string& manifest_key,
                                 std::string_view origin = {}, const PackLimits& limits = {});

// True when the store holds what a manifest object names: the entry, and its input set
// listed in the K1 manifest (nothing left to pull).
bool has_locally(const store::Store& store, const ManifestKey& key);

} // namespace kache::remote
