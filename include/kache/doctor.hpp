// kache/doctor.hpp — the health checks behind `kache doctor`: is cargo wired to kache,
// is the store private and roomy, is the daemon the right one. Each check returns
// findings, one line each; a problem carries the fix a person can apply.
// (The store's integrity checks are store::check_store; the remote is probed by
// `kached doctor-remote`, which prints findings in the line format below.)
#pragma once

#include <kache/config.hpp>
#include <kache/error.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace kache::store {
class Store;
}

namespace kache::doctor {

enum class Status { ok, note, problem };

struct Finding {
    Status status = Status::ok;
    std::string what;  // one line: what was found
    std::string fix;   // for a problem: what to do about it
};

// Finding lines exchanged between `kached doctor-remote` and `kache doctor`:
// "ok\tWHAT", "note\tWHAT" or "problem\tWHAT\tFIX".
inline constexpr std::size_t k_max_finding_line = 4096;
std::string to_line(const Finding& f);
// ErrorKind::invalid_input for anything else (the line comes from another process).
Result<Finding> from_line(std::string_view line);

// Cargo's wiring in cwd: which wrapper cargo runs (environment or its config files),
// whether it is kache (self_exe: this kache binary), another wrapper in the way, a
// workspace wrapper noted, malformed cargo config files.
std::vector<Finding> check_wiring(const std::filesystem::path& cwd, const std::filesystem::path& cargo_home,
                                  const std::filesystem::path& self_exe);

// The store directory before it is opened (opening tightens some modes itself): missing,
// owned by someone else, group- or world-writable or readable, reached through a
// symlink of another user.
std::vector<Finding> check_store_dir(const std::filesystem::path& dir);

// Free space of the store's filesystem against max_size, and reflink support (a FICLONE
// between two temp files in the store's tmp/).
std::vector<Finding> check_store_room(const store::Store& store, std::uint64_t max_size);

// How long `kache doctor` waits for the daemon's answer.
inline constexpr std::chrono::milliseconds k_daemon_ping_timeout{2000};

// The daemon on cfg's socket: running, and the same version as this binary (version);
// no daemon while a remote is configured is a problem.
std::vector<Finding> check_daemon(const config::Config& cfg, std::string_view version);

} // namespace kache::doctor
