// Helpers shared by the fuzz targets: a per-process scratch directory and a
// check that aborts (so libFuzzer records the input) when a property fails.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace kache::fuzz {

// Aborts with a message: libFuzzer saves the input that got here.
[[noreturn]] inline void violated(const char* what) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
}

// A directory of its own under TMPDIR, removed when the process exits.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        const char* base = std::getenv("TMPDIR");
        auto d = std::filesystem::path(base && *base ? base : "/tmp") /
                 ("kache-fuzz-" + std::to_string(::getpid()));
        std::filesystem::create_directories(d);
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(scratch_dir(), ec);
        });
        return d;
    }();
    return dir;
}

} // namespace kache::fuzz
