// kache/util/process.hpp — running child processes.
#pragma once

#include <kache/error.hpp>

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::util {

// Replaces this process with argv (execvp). Only returns on failure, with the errno text.
Error exec_replace(const std::vector<std::string>& argv);

// The outcome of a child that ran to completion.
struct ChildResult {
    int exit_code = -1;   // exit status, or 128+signal if it was killed
    std::string out;      // captured stdout
    std::string err;      // captured stderr
};

// Runs argv with stdin from /dev/null, capturing stdout and stderr.
Result<ChildResult> run_capture(const std::vector<std::string>& argv);

// Rewrites one line of a child's output before it is passed through.
using LineFilter = std::function<std::string(std::string_view)>;

// Runs argv, streaming the child's stdout and stderr through to ours as they are
// produced (whole lines, through filter when given) while also capturing both
// unfiltered (the compile path: cargo sees diagnostics live). stdin is inherited.
Result<ChildResult> run_tee(const std::vector<std::string>& argv, const LineFilter& filter = {});

// Finds an executable by name on PATH (or returns name if it contains '/').
std::string which(const std::string& name);

// The path of this process's executable (/proc/self/exe). ErrorKind::io if unreadable.
Result<std::filesystem::path> self_exe();

// Another program of this installation: `name` beside this executable, or, in the build
// tree's layout, at ../<name>/<name> from it. nullopt if neither is executable.
std::optional<std::filesystem::path> sibling_exe(const std::string& name);

// Starts argv as a daemon of its own, not a child of ours: a new session (no controlling
// terminal, no signals from our process group), reparented to init (double fork: no zombie
// for us to reap), stdin from /dev/null, stdout and stderr appended to log_file (created
// 0600 with its directory; /dev/null when empty), and no other descriptor of ours (a
// jobserver pipe or a test harness's output pipe held open by a long-lived process makes
// whoever waits for its EOF wait for it). Safe to call from a threaded process.
// Returns the pid of the started process once it has exec'd; ErrorKind::not_found if
// argv[0] cannot be run, ErrorKind::io if the fork or the log file fails.
Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::filesystem::path& log_file = {});

} // namespace kache::util
