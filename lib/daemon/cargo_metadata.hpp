// A workspace's dependency graph, from its Cargo.lock or `cargo metadata`, for prefetching.
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

struct DependencyNode {
    PackageVersion package;
    std::vector<std::size_t> deps; // indices of its dependencies in the same vector
};

// The packages by depth, the order cargo can start them in: first those with no
// dependencies, then those whose dependencies all come before them, and so on (ties
// keep their order in nodes). A cycle is cut where it closes.
std::vector<PackageVersion> order_by_depth(const std::vector<DependencyNode>& nodes);

// The packages of `cargo metadata --format-version 1` output, by depth.
Result<std::vector<PackageVersion>> parse_cargo_metadata(std::string_view json);

// The packages of a Cargo.lock (any lock format version), by depth (cargo_lock.cpp).
Result<std::vector<PackageVersion>> parse_cargo_lock(std::string_view text);
Result<std::vector<PackageVersion>> lockfile_order(const std::filesystem::path& lockfile);

// The packages of the workspace at or above dir, by depth: from its Cargo.lock, or
// when there is none (or it cannot be read) from `cargo metadata --offline`.
Result<std::vector<PackageVersion>> dependency_order(const std::filesystem::path& dir);

} // namespace kache::daemon
