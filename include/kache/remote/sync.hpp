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
#include <set>
#include <string>
#include <vector>

namespace kache::remote {

struct SyncOptions {
    bool push = true;
    bool pull = true;
    bool dry_run = false;
    int jobs = 16;                 // parallel transfers
    std::set<std::string> crates;  // pull only these packages; empty = everything
    PackLimits limits;             // bounds on each pulled pack (PackLimits::for_max_size)
    // Called after each transfer with (done, total); for a progress line.
    std::function<void(std::size_t, std::size_t)> progress;
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

// Package names in a Cargo.lock ([[package]] name = "..."), for limiting a pull.
Result<std::set<std::string>> packages_in_lockfile(const std::filesystem::path& lockfile);

} // namespace kache::remote
