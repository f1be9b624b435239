// kache doctor: check the store; one line per problem with its fix, exit 1 if there was any.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/util/fs.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace kache::app {

namespace {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec make_spec() {
    return {
        .command = "kache doctor",
        .summary = "Check the store: entries, manifests and the blobs they name. One line per problem with its\n"
                   "fix; exit 1 if there was any.",
        .options = {{"--verify", {}, "re-read every blob and check its digest"},
                    {"--repair", {}, "remove what is corrupt"}},
    };
}

} // namespace

int cmd_doctor(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    store::CheckOptions opt;
    opt.verify_blobs = args->has("--verify");
    opt.repair = args->has("--repair");
    auto opened = open_configured_store();
    if (!opened) return 1;
    bool tty = ::isatty(2);
    if (tty)
        opt.progress = [last = std::chrono::steady_clock::time_point{}](std::string_view check, std::uint64_t done,
                                                                       std::uint64_t total, std::uint64_t bytes) mutable {
            auto now = std::chrono::steady_clock::now();
            if (now - last < std::chrono::milliseconds(100)) return; // a terminal line, not a flood
            last = now;
            std::fprintf(stderr, "\r\033[Kchecking %.*s: %llu/%llu (%s read)", int(check.size()), check.data(),
                         (unsigned long long)done, (unsigned long long)total, util::human_bytes(bytes).c_str());
        };
    auto r = store::check_store(opened->store, opt);
    if (tty) std::fputs("\r\033[K", stderr);
    for (auto& p : r.problems)
        std::printf("%s: %s; %s\n", p.repaired ? "repaired" : "problem", p.what.c_str(), p.fix.c_str());
    std::printf("checked %llu entries, %llu manifests", (unsigned long long)r.entries, (unsigned long long)r.manifests);
    if (opt.verify_blobs)
        std::printf(", %llu blobs (%s re-read)", (unsigned long long)r.blobs_read, util::human_bytes(r.bytes_read).c_str());
    std::printf(": %s\n", r.problems.empty() ? "no problems" : (std::to_string(r.problems.size()) + " problems").c_str());
    if (!opt.verify_blobs) std::printf("(blob contents were not re-read: add --verify)\n");
    return r.problems.empty() ? 0 : 1;
}

} // namespace kache::app
