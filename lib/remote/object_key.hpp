// lib/remote/object_key.hpp — the rules every backend applies to object keys before using
// them (private to libkache_remote; implemented in layout.cpp, next to the key names).
// Keys are relative, '/'-separated, and portable: the same key must name the same object
// on S3 and in a shared directory.
#pragma once

#include <kache/error.hpp>

#include <string>
#include <string_view>

namespace kache::remote::detail {

// The longest key accepted, in bytes (S3's limit).
inline constexpr std::size_t k_max_key_bytes = 1024;

// Checks that key is non-empty, relative, at most k_max_key_bytes, has no empty, "." or ".."
// component and no control character or backslash. ErrorKind::invalid_input otherwise.
Result<void> validate_key(std::string_view key);

// Checks a listing prefix: empty, or like a key except that it may end with '/' and its last
// component may be partial. ErrorKind::invalid_input otherwise.
Result<void> validate_prefix(std::string_view prefix);

// Normalises a configured key prefix ("/team/cache/" -> "team/cache") and validates it.
Result<std::string> normalize_root_prefix(std::string_view prefix);

// prefix + "/" + key, or key alone when prefix is empty.
std::string join_key(std::string_view prefix, std::string_view key);

} // namespace kache::remote::detail
