#include <kache/key.hpp>
#include <kache/util/fs.hpp>

#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

namespace kache::key {

namespace {

// /proc/<pid>/stat is one short line; the command name is at most 64 bytes.
inline constexpr std::uint64_t k_proc_stat_max = 4096;
// Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot.
inline constexpr int k_starttime_field = 22;

// The wall-clock time of the boot, from two vDSO clocks (no system call). It
// tells two boots apart when a pid and its start tick repeat after a reboot.
std::int64_t boot_epoch_s() {
    timespec real{}, boot{};
    ::clock_gettime(CLOCK_REALTIME, &real);
    ::clock_gettime(CLOCK_BOOTTIME, &boot);
    return static_cast<std::int64_t>(real.tv_sec) - static_cast<std::int64_t>(boot.tv_sec);
}

} // namespace

std::optional<BuildSession> parse_proc_stat(std::string_view text) {
    // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields are
    // counted from the last ')', which ends field 2.
    auto close = text.rfind(')');
    if (close == std::string_view::npos) return std::nullopt;
    std::istringstream in{std::string(text.substr(close + 1))};
    std::string field;
    for (int i = 3; i <= k_starttime_field; ++i)
        if (!(in >> field)) return std::nullopt;
    if (field.empty() || field.find_first_not_of("0123456789") != std::string::npos || field.size() > 19)
        return std::nullopt;
    BuildSession s;
    s.start_ticks = std::strtoull(field.c_str(), nullptr, 10);
    return s;
}

std::optional<BuildSession> current_build_session() {
    pid_t parent = ::getppid();
    if (parent <= 1) return std::nullopt; // orphaned: no session to trust
    auto text = util::read_file_bounded("/proc/" + std::to_string(parent) + "/stat", k_proc_stat_max);
    if (!text) return std::nullopt;
    auto s = parse_proc_stat(*text);
    if (!s) return std::nullopt;
    s->parent_pid = parent;
    s->boot_epoch_s = boot_epoch_s();
    return s;
}

std::string BuildSession::text() const {
    return std::to_string(parent_pid) + " " + std::to_string(start_ticks) + " " + std::to_string(boot_epoch_s);
}

bool BuildSession::same_as(std::string_view recorded) const {
    std::istringstream in{std::string(recorded)};
    long long pid = 0, boot = 0;
    unsigned long long start = 0;
    if (!(in >> pid >> start >> boot)) return false;
    // The boot time read through two clocks moves by a little with NTP slew.
    return pid == parent_pid && start == start_ticks && std::llabs(boot - boot_epoch_s) <= k_boot_epoch_slack_s;
}

} // namespace kache::key
