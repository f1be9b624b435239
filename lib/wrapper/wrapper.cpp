// The wrapper's flow: classify the invocation, key it, then restore a hit or
// compile and record. Any internal problem runs the real compiler instead.
#include "context.hpp"

#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>
#include <kache/wrapper.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <exception>

extern char** environ;

namespace kache::wrapper {

namespace {

// How often configuration warnings are repeated (once per build, roughly).
inline constexpr std::time_t k_config_warning_interval_s = 600;

std::string basename_of(const std::string& p) {
    auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool is_clippy(const std::string& arg) { return basename_of(arg).find("clippy-driver") != std::string::npos; }

// Replaces the process with the compiler; returns only if that fails.
int exec_compiler(const std::vector<std::string>& cmd) {
    Error e = util::exec_replace(cmd);
    util::write_all(2, "kache: error: " + e.message + "\n");
    return 127;
}

// Set from log_level once the configuration is read; before that, warnings print.
bool warnings_off = false;

class Run {
public:
    explicit Run(const std::vector<std::string>& argv) { c_.argv = argv; }

    int go() {
        c_.cfg = config::load();
        warnings_off = c_.cfg.log_level == "error"; // KACHE_LOG=error: no warning lines
        if (c_.cfg.disabled) return exec_compiler(c_.argv);
        hint_session(c_.cfg, c_.argv[0]);

        // The compiler prefix: rustc, or clippy-driver followed by rustc. Any other
        // workspace wrapper in front of rustc may do anything: pass it through.
        const auto& argv = c_.argv;
        if (!names_compiler(argv[0])) return passthrough_early("workspace wrapper " + basename_of(argv[0]));
        c_.prefix.push_back(argv[0]);
        if (is_clippy(argv[0])) {
            c_.mode = "clippy";
            if (argv.size() > 1 && names_compiler(argv[1]) && !is_clippy(argv[1])) c_.prefix.push_back(argv[1]);
        }
        std::vector<std::string> args(argv.begin() + static_cast<long>(c_.prefix.size()), argv.end());

        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return fallback("cannot read the working directory");
        c_.cwd = buf;

        auto parsed = rustc::parse(args, c_.cwd);
        if (!parsed) return fallback(parsed.error().message);
        c_.inv = std::move(*parsed);
        c_.crate = display_name();
        if (c_.inv.passthrough_reason) return passthrough(*c_.inv.passthrough_reason);
        if (c_.inv.incremental && c_.cfg.preserve_incremental)
            return passthrough("incremental (KACHE_PRESERVE_INCREMENTAL)");

        auto store = store::Store::open(c_.cfg.cache_dir);
        if (!store) return fallback(store.error().message);
        c_.store.emplace(std::move(*store));
        // Shown on a compile, whose stderr cargo prints (not on its -vV probes); its
        // marker lives in the store, so only once the store is known to be private.
        warn_config_once();
        c_.hashes.emplace(c_.store->hash_cache_dir(), c_.store->tmp_dir());

        c_.paths = key::roots_for(c_.inv, c_.cwd);
        // The user's own remapping turns kache's off: K1 then holds the raw roots, so
        // the entry is served only to the same paths (a user's prefix would win over
        // kache's and its outputs would carry paths derived from this checkout).
        c_.remapped = !c_.inv.user_remap_scope && !c_.inv.user_remap_prefix;

        auto identity = key::toolchain_identity(c_.prefix, c_.store->toolchain_dir(), c_.store->tmp_dir());
        if (!identity) return fallback(identity.error().message);

        key::KeyContext kc;
        kc.compiler_identity = *identity;
        kc.linker_identity = c_.inv.links() ? key::linker_identity(c_.inv) : "";
        if (key::wants_native_cpu(c_.inv)) {
            auto cpu = key::native_cpu(c_.prefix, c_.inv.target, c_.store->toolchain_dir(), c_.store->tmp_dir());
            if (!cpu) return passthrough(cpu.error().message);
            kc.host_cpu = *cpu;
        }
        kc.env = steering_env();
        kc.cwd = c_.cwd;
        kc.remapped = c_.remapped;
        kc.mode = c_.mode;
        auto k1 = key::invocation_key(c_.inv, kc, c_.paths, *c_.hashes);
        if (!k1) {
            if (k1.error().kind == ErrorKind::unsupported) return passthrough(k1.error().message);
            return fallback(k1.error().message);
        }
        c_.k1 = k1->digest;
        c_.k1_files = std::move(k1->files);
        c_.k1_components = std::move(k1->components);

        if (auto code = try_hit(c_)) return *code;
        // A local miss: the daemon may find it on the remote (before taking the
        // key's lock, which the daemon needs to import).
        if (request_remote_check(c_))
            if (auto code = try_hit(c_)) return *code;
        std::string local_reason = c_.miss_reason;
        if (c_.remote_unavailable) local_reason = events::k_miss_remote_unavailable;

        // Still a miss: one wrapper compiles under the key's lock; the others wait, then restore.
        auto lock = c_.store->lock_key(c_.k1, c_.cfg.lock_timeout);
        if (!lock) warn("cannot take the build lock (" + lock.error().message + "); compiling without it");
        else if (auto code = try_hit(c_)) return *code;
        c_.miss_reason = std::move(local_reason); // not what the look-up under the lock saw
        auto status = compile_and_record(c_);
        if (!status) return fallback(status.error().message);
        return *status;
    }

private:
    // The package plus what kind of unit this is, for progress lines and events.
    std::string display_name() const {
        std::string name = c_.package_name();
        if (c_.inv.crate_name.starts_with("build_script_")) name += " (build script)";
        if (c_.inv.test) name += " (test)";
        return name;
    }

    std::vector<std::pair<std::string, std::string>> steering_env() const {
        std::vector<std::pair<std::string, std::string>> out;
        const auto& wanted_extra = c_.cfg.key_env_vars;
        for (char** e = environ; *e; ++e) {
            std::string_view kv(*e);
            auto eq = kv.find('=');
            if (eq == std::string_view::npos) continue;
            std::string_view name = kv.substr(0, eq); // copied only when keyed
            // clippy's variables are set for the whole build; only clippy reads them.
            if (c_.mode != "clippy" && name.starts_with("CLIPPY_")) continue;
            bool listed = std::find(wanted_extra.begin(), wanted_extra.end(), name) != wanted_extra.end();
            // The linker's variables cannot change what a non-linking compile writes.
            bool wanted = listed || (key::is_steering_env(name) && (c_.inv.links() || !key::is_linker_env(name)));
            if (wanted) out.emplace_back(std::string(name), std::string(kv.substr(eq + 1)));
        }
        // Variables asked for but unset are keyed as unset.
        for (auto& name : wanted_extra)
            if (!std::getenv(name.c_str())) out.emplace_back(name, "\x01unset");
        std::sort(out.begin(), out.end());
        return out;
    }

    // Configuration problems are shown once per build, not once per crate: a
    // marker named after the warnings' text, refreshed every ten minutes.
    void warn_config_once() {
        if (c_.cfg.warnings.empty()) return;
        std::string all;
        for (auto& w : c_.cfg.warnings) all += w + "\n";
        fs::path marker = c_.cfg.cache_dir / "tmp" / ("warned-" + hash::of(all).hex().substr(0, 16));
        struct stat st {};
        if (::stat(marker.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtim.tv_sec < k_config_warning_interval_s)
            return;
        for (auto& w : c_.cfg.warnings) warn(w);
        int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
        if (fd >= 0) ::close(fd);
        (void)util::touch_now(marker);
    }

    void log_event(const char* outcome, const std::string& reason) {
        events::Event ev = c_.event(outcome);
        ev.reason = reason;
        ev.wrapper_us = c_.elapsed_us();
        // Never into a cache dir that is not private (another user could read or redirect it).
        if (!c_.store) {
            auto store = store::Store::open(c_.cfg.cache_dir);
            if (!store) return;
            c_.store.emplace(std::move(*store));
        }
        events::append(c_.store->events_dir(), ev);
    }

    // Before the invocation is parsed: no crate name yet.
    int passthrough_early(const std::string& reason) {
        c_.crate = util::env("CARGO_PKG_NAME").value_or("");
        return passthrough(reason);
    }

    int passthrough(const std::string& reason) {
        log_event("passthrough", reason);
        return exec_compiler(c_.argv);
    }

    // An internal failure: say so once, then behave as if kache were not there.
    int fallback(const std::string& reason) {
        warn(reason + "; running the compiler without the cache");
        log_event("error", reason);
        return exec_compiler(c_.argv);
    }

    Context c_;
};

} // namespace

void warn(const std::string& msg) {
    if (!warnings_off) util::write_all(2, "kache: warning: " + msg + "\n");
}

std::string Context::package_name() const {
    auto pkg = util::env("CARGO_PKG_NAME");
    return pkg && !pkg->empty() ? *pkg : inv.crate_name;
}

fs::path Context::out_dir() const {
    fs::path p = inv.out_dir;
    return p.is_absolute() ? p : cwd / p;
}

fs::path Context::absolute(const std::string& p) const { return !p.empty() && p[0] == '/' ? fs::path(p) : cwd / p; }

std::int64_t Context::elapsed_us() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
}

events::Event Context::event(const char* outcome) const {
    events::Event ev;
    std::int64_t now_ns = util::now_ns();
    ev.ts_ms = now_ns / 1000000;
    ev.start_us = now_ns / 1000 - elapsed_us();
    ev.pid = ::getpid();
    // The cargo process that runs this build (its pid; `report` tells a reused
    // pid apart by the time between units).
    ev.session = std::to_string(::getppid());
    ev.crate = crate;
    ev.outcome = outcome;
    return ev;
}

bool names_compiler(const std::string& arg) {
    std::string base = basename_of(arg);
    if (base.ends_with(".exe")) base.resize(base.size() - 4);
    return base == "rustc" || base.ends_with("-rustc") || base.starts_with("rustc-") ||
           base.find("clippy-driver") != std::string::npos;
}

int run(const std::vector<std::string>& argv) {
    if (argv.empty()) return 2;
    // The cache never breaks a build: whatever escapes (an exception from a
    // library, an allocation failure) ends in the real compiler, with one warning.
    // The Run (and any lock it holds) is gone before the compiler starts.
    std::string what;
    try {
        return Run(argv).go();
    } catch (const std::exception& e) {
        what = e.what();
    } catch (...) {
        what = "unknown exception";
    }
    try {
        warn("internal error (" + what + "); running the compiler without the cache");
    } catch (...) {
    }
    return exec_compiler(argv);
}

} // namespace kache::wrapper
