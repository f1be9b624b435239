// kache/remote/layout.hpp — the name of every object kache keeps on a remote.
//
//   <prefix>/v1/manifests/<crate>/<version>/<K1>/<K2>   one input set each
//   <prefix>/v1/packs/<crate>/<K2>.pack                 the entry and its blobs
//
// <crate> and <version> are made key-safe; an unknown (empty) version is written "0".
// Keys here are relative to the backend's configured prefix, which the backend adds.
// Every key is built by these functions, so pushing and pulling always agree.
#pragma once

#include <kache/hash.hpp>
#include <kache/store.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace kache::remote {

// Where manifest objects and packs live (listing prefixes, relative to the backend root).
inline constexpr std::string_view k_manifests_root = "v1/manifests/";
inline constexpr std::string_view k_packs_root = "v1/packs/";
// The version component used when an entry's version is unknown ("").
inline constexpr std::string_view k_unknown_version = "0";

// A crate name or version made safe for one key component
// ("serde (build script)" -> "serde_build_script_"); never empty, never "." or "..".
std::string key_safe(std::string_view name);

// The key component of a version: key_safe(version), with "" written k_unknown_version.
std::string version_component(std::string_view version);

// "v1/packs/<crate>/<K2>.pack"
std::string pack_key(std::string_view crate, const hash::Digest& k2);
std::string pack_key(const store::Entry& e);

// "v1/manifests/<crate>/<version>/<K1>/<K2>"
std::string manifest_key(std::string_view crate, std::string_view version, const hash::Digest& k1,
                         const hash::Digest& k2);
std::string manifest_key(const store::Entry& e);

// "v1/manifests/<crate>/" — everything seen for one package.
std::string crate_manifest_prefix(std::string_view crate);
// "v1/manifests/<crate>/<version>/" — one package version (what prefetch lists).
std::string version_manifest_prefix(std::string_view crate, std::string_view version);
// "v1/manifests/<crate>/<version>/<K1>/" — every input set of one invocation (a remote check).
std::string invocation_manifest_prefix(std::string_view crate, std::string_view version, const hash::Digest& k1);

// What a manifest object's key names.
struct ManifestKey {
    std::string crate;  // the key-safe crate component, as in the key
    hash::Digest k1;
    hash::Digest k2;
};

// Splits "v1/manifests/<crate>/<version>/<K1>/<K2>"; nullopt for any other key.
std::optional<ManifestKey> parse_manifest_key(std::string_view key);

// The pack holding the entry a manifest key names.
std::string pack_key(const ManifestKey& m);

} // namespace kache::remote
