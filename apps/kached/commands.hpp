// kached's commands: one file each (cmd_<name>.cpp), dispatched by main.cpp.
#pragma once

#include <kache/daemon.hpp>

#include <span>
#include <string>

namespace kache::kached {

int cmd_sync(std::span<const std::string> args);
int cmd_daemon(std::span<const std::string> args);
// The daemon in the foreground (`kached run`, `kache daemon run`).
int run_daemon();

// The daemon's options from the configuration (its warnings printed).
Result<daemon::Options> daemon_options();

} // namespace kache::kached
