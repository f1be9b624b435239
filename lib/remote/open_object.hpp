// lib/remote/open_object.hpp — one remote object, open for reading (private to
// libkache_remote): in place where the backend allows it, else a downloaded copy.
#pragma once

#include <kache/remote.hpp>

#include <cstdint>
#include <filesystem>
#include <string>

namespace kache::remote::detail {

// In place where the backend allows it (a shared directory: no copy, no temp file, and
// the size is known before a byte is read), else downloaded into a temp file in tmp_dir
// that is gone once this returns (the descriptor keeps it readable). The download stops past
// max_bytes (RemoteBackend::get_bounded); an object opened in place is the reader's to bound.
Result<LocalObject> open_object(RemoteBackend& backend, const std::string& key, const std::filesystem::path& tmp_dir,
                                std::uint64_t max_bytes);

} // namespace kache::remote::detail
