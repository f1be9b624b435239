// kache/wrapper.hpp — the RUSTC_WRAPPER path: look up, restore or compile and record.
//
// An embedding build tool calls run() with the compiler command line it would
// have executed; run() returns the exit status the compiler would have given
// (or replaces the process with the compiler for invocations kache does not cache).
#pragma once

#include <string>
#include <vector>

namespace kache::wrapper {

// True if `arg` names a rustc or clippy-driver binary (by its file name), which
// is how cargo calls a RUSTC_WRAPPER: `kache /path/to/rustc <args>`.
bool names_compiler(const std::string& arg);

// Runs one compiler invocation through the cache. argv is the compiler command
// line: argv[0] the compiler (rustc, or clippy-driver followed by rustc), then
// its arguments. Never fails because of the cache: any internal problem prints
// one warning line and runs the real compiler, even when an exception escapes.
int run(const std::vector<std::string>& argv);

} // namespace kache::wrapper
