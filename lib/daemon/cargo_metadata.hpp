// A workspace's dependency graph, from `cargo metadata`, for prefetching.
#pragma once

#include <kache/error.hpp>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace kache::daemon {

// Deeper dependency chains than this are cut (a guard against a cyclic graph).
inline constexpr int k_max_dependency_depth = 512;

struct PackageVersion {
    std::string name, version;
    bool operator==(const PackageVersion&) const = default;
};

// The packages of `cargo metadata --format-version 1` output, every package
// after its dependencies.
Result<std::vector<PackageVersion>> parse_cargo_metadata(std::string_view json);

// Runs `cargo metadata --offline` for the workspace at or above dir and
// returns its packages in dependency order.
Result<std::vector<PackageVersion>> dependency_order(const std::filesystem::path& dir);

} // namespace kache::daemon
