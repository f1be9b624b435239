// Internal to lib/config: loading that records where each value came from, shared by
// config.cpp (the loader) and describe.cpp (`kache config`). load() passes no
// Origins, so the wrapper's start-up pays nothing for it.
#pragma once

#include <kache/config.hpp>

#include <filesystem>
#include <map>
#include <string>
#include <utility>

namespace kache::config {

// Setting key -> (source, file path or variable name). A key absent here is a default.
using Origins = std::map<std::string, std::pair<Source, std::string>>;

Config load_with_origins(const std::filesystem::path& file, Origins* origins);

// The file load() reads (it may not exist); "" when there is no HOME to find it in.
std::filesystem::path config_file_path();

} // namespace kache::config
