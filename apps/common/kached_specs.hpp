// The specs of the commands kached runs (`kache sync`, `kache daemon ...`). They live
// here, not in kached, so that kache can list their options (`kache completions`)
// without starting kached, and both binaries show the same help.
#pragma once

#include "cli.hpp"

#include <vector>

namespace kache::cli {

// Exit status of `kache daemon status` (and bare `kache daemon`) when no daemon
// runs, with or without --json: the convention of service managers' status.
inline constexpr int k_not_running_exit = 3;

Spec sync_spec();
// `kache daemon [SUBCOMMAND]`: with no subcommand it shows the status.
Spec daemon_spec();
// One spec per `kache daemon` subcommand; the subcommand is the last word of .command.
std::vector<Spec> daemon_subcommand_specs();

} // namespace kache::cli
