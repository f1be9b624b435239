// kache doctor: check the wiring, the store, the daemon and the remote; one line per
// problem with its fix, exit 1 if there was any.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/config/cargo_config.hpp>
#include <kache/doctor.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace kache::app {

namespace {

// At most this many findings are taken from `kached doctor-remote`.
inline constexpr std::size_t k_max_remote_findings = 32;

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec make_spec() {
    return {
        .command = "kache doctor",
        .summary = "Check that cargo runs kache, the store (owner and modes, free space, reflinks, entries,\n"
                   "manifests and the blobs they name), the daemon and the remote. One line per problem with\n"
                   "its fix; exit 1 if there was any.",
        .options = {{"--verify", {}, "re-read every blob and check its digest"},
                    {"--repair", {}, "remove what is corrupt"},
                    {"--store-only", {}, "check only the store's contents (no wiring, daemon or remote checks)"}},
    };
}

// Prints findings as they come (the remote check can take seconds); counts the problems.
struct Printer {
    std::size_t problems = 0;
    void operator()(const std::vector<doctor::Finding>& fs) {
        for (auto& f : fs) {
            switch (f.status) {
            case doctor::Status::ok: std::printf("ok: %s\n", f.what.c_str()); break;
            case doctor::Status::note: std::printf("note: %s\n", f.what.c_str()); break;
            case doctor::Status::problem:
                ++problems;
                std::printf("problem: %s; %s\n", f.what.c_str(), f.fix.c_str());
                break;
            }
        }
        std::fflush(stdout);
    }
};

std::vector<doctor::Finding> config_findings(const config::Config& cfg) {
    std::vector<doctor::Finding> out;
    std::string where = cfg.config_file.empty() ? "the KACHE_* variable" : cfg.config_file.string() + " or the KACHE_* variable";
    for (auto& w : cfg.warnings) out.push_back({doctor::Status::problem, "config: " + w, "fix it in " + where});
    if (cfg.warnings.empty())
        out.push_back({doctor::Status::ok,
                       "config " + (cfg.config_file.empty() ? std::string("(no file: defaults and KACHE_* variables)")
                                                            : cfg.config_file.string()) +
                           " reads cleanly",
                       {}});
    return out;
}

// The remote code lives in kached (the kache binary never loads libcurl): it probes the
// remote and prints one finding a line.
std::vector<doctor::Finding> check_remote(const config::Config& cfg) {
    using doctor::Status;
    if (!cfg.remote.configured()) return {{Status::ok, "no remote configured (the local store only)", {}}};
    auto kached = util::sibling_exe("kached");
    if (!kached)
        return {{Status::problem, "a remote is configured but kached is not installed next to kache",
                 "install kached beside kache"}};
    auto run = util::run_capture({kached->string(), "doctor-remote"});
    if (!run) return {{Status::problem, "cannot run " + kached->string() + ": " + run.error().message, "reinstall kached"}};
    std::vector<doctor::Finding> out;
    std::size_t start = 0;
    const std::string& text = run->out;
    while (start < text.size() && out.size() < k_max_remote_findings) {
        auto nl = text.find('\n', start);
        if (nl == std::string::npos) nl = text.size();
        if (auto f = doctor::from_line(std::string_view(text).substr(start, nl - start))) out.push_back(std::move(*f));
        start = nl + 1;
    }
    if (out.empty() || (run->exit_code != 0 && out.back().status != Status::problem)) {
        std::string err = run->err;
        while (!err.empty() && err.back() == '\n') err.pop_back();
        if (auto nl = err.rfind('\n'); nl != std::string::npos) err = err.substr(nl + 1);
        out.push_back({Status::problem,
                       "the remote check (kached doctor-remote) failed with exit " + std::to_string(run->exit_code) +
                           (err.empty() ? "" : ": " + err),
                       "run `kached doctor-remote` to see why"});
    }
    return out;
}

} // namespace

int cmd_doctor(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    store::CheckOptions opt;
    opt.verify_blobs = args->has("--verify");
    opt.repair = args->has("--repair");

    // --store-only: the contents alone, for a scheduled check or a script that has no
    // business with this shell's wiring or the remote's state.
    bool everything = !args->has("--store-only");
    Printer print;
    auto cfg = config::load();
    if (everything) {
        print(config_findings(cfg));
        std::error_code ec;
        auto cwd = std::filesystem::current_path(ec);
        auto self = util::self_exe();
        print(doctor::check_wiring(cwd, config::cargo_home(), self ? *self : std::filesystem::path("kache")));
        print(doctor::check_store_dir(cfg.cache_dir));
    }
    auto store = store::Store::open(cfg.cache_dir);
    if (!store)
        print({{doctor::Status::problem, "cannot open the store: " + store.error().message,
                "builds run uncached until it is fixed"}});
    else if (everything)
        print(doctor::check_store_room(*store, cfg.max_size));
    if (everything) {
        print(doctor::check_daemon(cfg, KACHE_VERSION));
        print(check_remote(cfg));
    }
    if (!store) return 1;

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
    auto r = store::check_store(*store, opt);
    if (tty) std::fputs("\r\033[K", stderr);
    for (auto& p : r.problems)
        std::printf("%s: %s; %s\n", p.repaired ? "repaired" : "problem", p.what.c_str(), p.fix.c_str());
    std::printf("checked %llu entries, %llu manifests", (unsigned long long)r.entries, (unsigned long long)r.manifests);
    if (opt.verify_blobs)
        std::printf(", %llu blobs (%s re-read)", (unsigned long long)r.blobs_read, util::human_bytes(r.bytes_read).c_str());
    std::size_t problems = print.problems + r.problems.size();
    std::printf(": %s\n", problems == 0 ? "no problems" : (std::to_string(problems) + " problems").c_str());
    if (!opt.verify_blobs) std::printf("(blob contents were not re-read: add --verify)\n");
    return problems == 0 ? 0 : 1;
}

} // namespace kache::app
