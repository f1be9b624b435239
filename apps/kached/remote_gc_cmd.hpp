// `kache remote gc`: bounding the shared remote (reached through kached, like `kache sync`).
#pragma once

#include <span>
#include <string>

namespace kache::kached {

// `kache remote SUBCOMMAND ...` (args after "remote"); returns the exit status.
int cmd_remote(std::span<const std::string> args);

} // namespace kache::kached
