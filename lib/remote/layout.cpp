// lib/remote/layout.cpp — every remote object key: the names kache gives its objects
// (kache/remote/layout.hpp) and the rules every backend applies to a key before using it
// (object_key.hpp, private to libkache_remote).
#include <kache/remote/layout.hpp>

#include "object_key.hpp"

#include <cctype>

namespace kache::remote {

std::string key_safe(std::string_view name) {
    std::string out;
    for (char c : name) {
        bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
        out.push_back(keep ? c : '_');
    }
    if (out.empty() || out == "." || out == "..") out = "_" + out;
    return out;
}

std::string version_component(std::string_view version) {
    return key_safe(version.empty() ? k_unknown_version : version);
}

std::string pack_key(std::string_view crate, const hash::Digest& k2) {
    return std::string(k_packs_root) + key_safe(crate) + "/" + k2.hex() + ".pack";
}

std::string pack_key(const store::Entry& e) { return pack_key(e.crate, e.k2); }

std::string pack_key(const ManifestKey& m) { return pack_key(m.crate, m.k2); }

std::string crate_manifest_prefix(std::string_view crate) {
    return std::string(k_manifests_root) + key_safe(crate) + "/";
}

std::string version_manifest_prefix(std::string_view crate, std::string_view version) {
    return crate_manifest_prefix(crate) + version_component(version) + "/";
}

std::string invocation_manifest_prefix(std::string_view crate, std::string_view version, const hash::Digest& k1) {
    return version_manifest_prefix(crate, version) + k1.hex() + "/";
}

std::string manifest_key(std::string_view crate, std::string_view version, const hash::Digest& k1,
                         const hash::Digest& k2) {
    return invocation_manifest_prefix(crate, version, k1) + k2.hex();
}

std::string manifest_key(const store::Entry& e) { return manifest_key(e.crate, e.version, e.k1, e.k2); }

std::optional<ManifestKey> parse_manifest_key(std::string_view key) {
    if (!key.starts_with(k_manifests_root)) return std::nullopt;
    key.remove_prefix(k_manifests_root.size());
    // Exactly <crate>/<version>/<K1>/<K2>, none of them empty.
    std::string_view parts[4];
    for (int i = 0; i < 4; ++i) {
        auto slash = key.find('/');
        if ((slash == std::string_view::npos) != (i == 3)) return std::nullopt;
        parts[i] = key.substr(0, slash);
        if (parts[i].empty()) return std::nullopt;
        key = slash == std::string_view::npos ? std::string_view() : key.substr(slash + 1);
    }
    auto k1 = hash::Digest::from_hex(parts[2]);
    auto k2 = hash::Digest::from_hex(parts[3]);
    if (!k1 || !k2) return std::nullopt;
    return ManifestKey{std::string(parts[0]), *k1, *k2};
}

namespace detail {

namespace {

Result<void> check_bytes(std::string_view what, std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '\\')
            return fail(ErrorKind::invalid_input, "invalid object " + std::string(what) + " '" + std::string(s) +
                                                      "': control characters and '\\' are not allowed");
    }
    return ok();
}

Result<void> check_component(std::string_view what, std::string_view whole, std::string_view comp) {
    if (comp.empty() || comp == "." || comp == "..")
        return fail(ErrorKind::invalid_input, "invalid object " + std::string(what) + " '" + std::string(whole) +
                                                  "': empty, '.' and '..' components are not allowed");
    return ok();
}

} // namespace

Result<void> validate_key(std::string_view key) {
    if (key.empty()) return fail(ErrorKind::invalid_input, "invalid object key: it is empty");
    if (key.size() > k_max_key_bytes)
        return fail(ErrorKind::invalid_input, "invalid object key: longer than " + std::to_string(k_max_key_bytes) +
                                                  " bytes");
    if (key.front() == '/')
        return fail(ErrorKind::invalid_input, "invalid object key '" + std::string(key) + "': it must be relative");
    if (auto r = check_bytes("key", key); !r) return r;
    std::size_t i = 0;
    while (true) {
        std::size_t j = key.find('/', i);
        if (auto r = check_component("key", key, key.substr(i, j == std::string_view::npos ? j : j - i)); !r) return r;
        if (j == std::string_view::npos) break;
        i = j + 1;
    }
    return ok();
}

Result<void> validate_prefix(std::string_view prefix) {
    if (prefix.empty()) return ok();
    if (prefix.size() > k_max_key_bytes)
        return fail(ErrorKind::invalid_input, "invalid object prefix: longer than " +
                                                  std::to_string(k_max_key_bytes) + " bytes");
    if (prefix.front() == '/')
        return fail(ErrorKind::invalid_input, "invalid object prefix '" + std::string(prefix) + "': it must be relative");
    if (auto r = check_bytes("prefix", prefix); !r) return r;
    // Every component followed by '/' is complete and must be valid; the tail may be partial
    // (".fo" is a fine prefix of ".foo").
    std::size_t i = 0;
    for (std::size_t j = prefix.find('/'); j != std::string_view::npos; j = prefix.find('/', i)) {
        if (auto r = check_component("prefix", prefix, prefix.substr(i, j - i)); !r) return r;
        i = j + 1;
    }
    if (prefix.substr(i) == "..")
        return fail(ErrorKind::invalid_input, "invalid object prefix '" + std::string(prefix) + "': '..' is not allowed");
    return ok();
}

Result<std::string> normalize_root_prefix(std::string_view prefix) {
    while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (prefix.empty()) return std::string();
    if (auto r = validate_key(prefix); !r) return std::unexpected(r.error());
    return std::string(prefix);
}

std::string join_key(std::string_view prefix, std::string_view key) {
    if (prefix.empty()) return std::string(key);
    std::string out(prefix);
    out.push_back('/');
    out += key;
    return out;
}

} // namespace detail

} // namespace kache::remote
