// kache/daemon/service.hpp — kached as a systemd user service: the unit file
// is written by the library and systemctl runs with an argument vector (no shell).
#pragma once

#include <kache/error.hpp>

#include <filesystem>
#include <string>

namespace kache::daemon {

inline constexpr const char* k_service_name = "kached.service";

// True when `systemctl --user` answers (a systemd user session exists).
bool systemd_user_available();

// "$HOME/.config/systemd/user/kached.service".
std::filesystem::path service_unit_path();

// The unit's text: runs `<kached> run`, restarted on failure.
std::string service_unit_text(const std::filesystem::path& kached);

struct ServiceInstall {
    std::filesystem::path unit_file;
    bool enabled = false; // systemctl enabled and started it
};

// Writes the unit for kached and enables and starts it. ErrorKind::unsupported
// without a systemd user session; io when the unit cannot be written.
Result<ServiceInstall> install_service(const std::filesystem::path& kached);

// Disables and stops the service and removes its unit; returns the unit's path.
Result<std::filesystem::path> uninstall_service();

} // namespace kache::daemon
