// kache/util/process.hpp — running child processes.
#pragma once

#include <kache/error.hpp>

#include <functional>
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

} // namespace kache::util
