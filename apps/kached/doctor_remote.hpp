// `kached doctor-remote` (hidden): the remote checks of `kache doctor`, run here because
// the kache binary does not load the remote code.
#pragma once

#include <string>
#include <vector>

namespace kache::app {

// Probes the configured remote and prints one finding a line (doctor::to_line) on stdout:
// reachable, credentials accepted, writable or read-only. Exit 0 with no problem, else 1.
int cmd_doctor_remote(const std::vector<std::string>& args);

} // namespace kache::app
