// kache/remote/sync.hpp — `kache sync`: push local entries a remote lacks, pull
// entries the remote has and the store lacks, talking to the remote directly; each entry
// moves with push_entry / pull_entry (kache/remote/transfer.hpp).
#pragma once

#include <kache/error.hpp>
#include <kache/remote.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kache::remote {

struct SyncOptions {
    bool push = true;
    bool pull = true;
    bool dry_run = false;
    int jobs = 16;                 // parallel transfers
    // Push and pull only entries of these packages (key-safe names, as key_safe makes
    // them: what packages_in_lockfile and workspace_members return); nullopt = everything.
    std::optional<std::set<std::string>> crates;
    PackLimits limits;             // bounds on each pulled pack (PackLimits::for_max_size)
    // Called after each transfer with (done, total); for a progress line.
    std::function<void(std::size_t, std::size_t)> progress;
    // Called with the manifest object's key after each entry pulled (from the workers).
    std::function<void(const std::string&)> on_pulled;
};

struct SyncReport {
    std::size_t pushed = 0, pulled = 0, up_to_date = 0, failed = 0;
    std::size_t skipped = 0; // local entries whose input set has aged out of their manifest
    std::uint64_t bytes_up = 0, bytes_down = 0;
    double seconds = 0;
    std::vector<std::string> errors; // one line per failed transfer
};

// Makes one backend per worker (backends need not be thread-safe).
using BackendMaker = std::function<Result<std::unique_ptr<RemoteBackend>>()>;

// Runs a sync. Fails only when the remote cannot be listed at all; individual
// transfer failures are counted in the report.
Result<SyncReport> sync(store::Store& store, const BackendMaker& make_backend, const SyncOptions& options);

// Package names in a Cargo.lock ([[package]] name = "..."), key-safe, for limiting a sync.
Result<std::set<std::string>> packages_in_lockfile(const std::filesystem::path& lockfile);

// Bounds on reading the workspace's members from cargo.
inline constexpr std::size_t k_max_metadata_bytes = 64u << 20;
inline constexpr std::size_t k_max_workspace_members = 100000;

// The package names (key-safe) of the workspace's members, from
// `cargo metadata --no-deps --format-version 1` run in dir (cargo finds the workspace
// from there, globs and excludes included). Fails when cargo fails or prints
// something that is not its metadata.
Result<std::set<std::string>> workspace_members(const std::filesystem::path& dir);

// The member names out of that command's output (parsing only; for tests).
Result<std::set<std::string>> parse_workspace_members(std::string_view metadata_json);

} // namespace kache::remote
