// kache init: wire cargo to kache (build.rustc-wrapper in $CARGO_HOME/config.toml), write
// kache's own config file with its defaults commented, and run the daemon as a user
// service when a remote is configured. --check says what it would do and changes nothing.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/config/cargo_config.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <sys/stat.h>

#include <cstdio>
#include <system_error>

namespace kache::app {

namespace {

namespace fs = std::filesystem;

cli::Spec make_spec() {
    return {
        .command = "kache init",
        .summary = "Set kache up for this user: cargo's build.rustc-wrapper in $CARGO_HOME/config.toml, kache's\n"
                   "config file (commented defaults, never overwritten), and the daemon as a user service when a\n"
                   "remote is configured.",
        .options = {{"-y", {}, "replace another compiler wrapper already set in cargo's config"},
                    {"--no-service", {}, "do not install or start the daemon's user service"},
                    {"--check", {}, "print what would be done and change nothing (exit 1 if anything would)"}},
        .details = "Other settings in cargo's config.toml are kept as they are. A malformed config.toml is\n"
                   "reported and left alone.",
    };
}

// The config file written when there is none: every setting at its default, commented.
constexpr const char* k_config_template = R"(# kache's configuration. Every setting below is commented out at its default;
# KACHE_* environment variables override this file (see `kache --help`).

# Where the local store lives.
# cache_dir = "~/.cache/kache"

# The store's size cap: least recently used entries go first.
# max_size = "20G"

# Extra environment variables that belong in the cache key.
# key_env_vars = ["MY_VAR"]

# Re-hash blobs on restore (bit rot is never served).
# verify_blobs = true

# One line on stderr per cache hit.
# progress = false

# trace, debug, info, warn or error.
# log_level = "warn"

# A remote shared between machines; the daemon (kached) talks to it.
# [remote]
# type = "s3"                 # or "filesystem" with dir = "/mnt/kache"
# bucket = "my-build-cache"
# endpoint = "https://s3.example.com"
# region = "us-east-1"
# read_only = false
)";

// The path `kache daemon install` writes (see daemon::service_unit_path; kache does not
// link the daemon library).
fs::path service_unit_path() {
    if (auto h = util::env("HOME"); h && !h->empty()) return fs::path(*h) / ".config" / "systemd" / "user" / "kached.service";
    return {};
}

fs::path kache_config_path() {
    if (auto k = util::env("KACHE_CONFIG"); k && !k->empty()) return *k;
    if (auto x = util::env("XDG_CONFIG_HOME"); x && !x->empty() && (*x)[0] == '/')
        return fs::path(*x) / "kache" / "config.toml";
    if (auto h = util::env("HOME"); h && !h->empty()) return fs::path(*h) / ".config" / "kache" / "config.toml";
    return {};
}

bool present(const fs::path& p) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(p, ec));
}

// Writes text to path atomically, with mode (the existing file's, or mode_new).
Result<void> write_text(const fs::path& path, std::string_view text, mode_t mode_new) {
    mode_t mode = mode_new;
    if (struct stat st {}; ::stat(path.c_str(), &st) == 0) mode = st.st_mode & 07777;
    if (auto made = util::make_dirs(path.parent_path()); !made) return made;
    return util::write_file_atomic(path, text, path.parent_path(), mode);
}

} // namespace

int cmd_init(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    const bool yes = args->has("-y"), check = args->has("--check"), no_service = args->has("--no-service");
    const char* would = check ? "would " : "";
    bool pending = false, failed = false;

    auto self = util::self_exe();
    if (!self) {
        std::fprintf(stderr, "kache init: %s\n", self.error().message.c_str());
        return 1;
    }

    // 1. cargo: build.rustc-wrapper in $CARGO_HOME/config.toml (or the legacy `config`).
    auto home = config::cargo_home();
    if (home.empty()) {
        std::fprintf(stderr, "kache init: neither CARGO_HOME nor HOME is set: set one of them\n");
        return 1;
    }
    fs::path cargo_cfg = present(home / "config") ? home / "config" : home / "config.toml";
    std::string text;
    if (present(cargo_cfg)) {
        auto t = util::read_file_bounded(cargo_cfg, config::k_max_cargo_config_bytes);
        if (!t) {
            std::fprintf(stderr, "kache init: %s: %s; not changed\n", cargo_cfg.c_str(), t.error().message.c_str());
            return 1;
        }
        text = std::move(*t);
    }
    auto edit = config::set_rustc_wrapper(text, self->string(), cargo_cfg.string());
    if (!edit) {
        std::fprintf(stderr, "kache init: %s\n", edit.error().message.c_str());
        return 1;
    }
    bool already = !edit->changed;
    if (edit->changed && edit->previous) {
        // "kache" on PATH, or another spelling of this binary, is this kache already.
        auto prev = config::resolve_wrapper({*edit->previous, cargo_cfg.string(), home.parent_path(), true});
        std::error_code ec;
        if (prev && fs::equivalent(*prev, *self, ec)) already = true;
        else if (!yes) {
            std::fprintf(stderr,
                         "kache init: %s sets build.rustc-wrapper = \"%s\" already; run `kache init -y` to replace it "
                         "with kache\n",
                         cargo_cfg.c_str(), edit->previous->c_str());
            return 1;
        }
    }
    if (already) {
        std::printf("cargo: %s already runs kache as the compiler wrapper\n", cargo_cfg.c_str());
    } else {
        pending = true;
        std::printf("cargo: %sset build.rustc-wrapper = \"%s\" in %s%s\n", would, self->c_str(), cargo_cfg.c_str(),
                    edit->previous ? (" (replacing \"" + *edit->previous + "\")").c_str() : "");
        if (!check)
            if (auto w = write_text(cargo_cfg, edit->text, 0644); !w) {
                std::fprintf(stderr, "kache init: cannot write %s: %s\n", cargo_cfg.c_str(), w.error().message.c_str());
                return 1;
            }
    }

    // 2. kache's own config file, written once and never overwritten.
    auto kcfg = kache_config_path();
    if (kcfg.empty()) {
        std::printf("config: no HOME or XDG_CONFIG_HOME: kache runs on its defaults and KACHE_* variables\n");
    } else if (present(kcfg)) {
        std::printf("config: %s exists (kept as it is)\n", kcfg.c_str());
    } else {
        pending = true;
        std::printf("config: %swrite %s (the defaults, commented)\n", would, kcfg.c_str());
        if (!check)
            if (auto w = write_text(kcfg, k_config_template, 0644); !w) {
                std::fprintf(stderr, "kache init: cannot write %s: %s\n", kcfg.c_str(), w.error().message.c_str());
                failed = true;
            }
    }

    // 3. The daemon as a user service: only a remote gives it work.
    if (no_service) {
        std::printf("service: skipped (--no-service)\n");
    } else if (auto cfg = config::load(); !cfg.remote.configured()) {
        std::printf("service: not installed: no remote is configured, and the daemon only serves a remote "
                    "(set [remote] in %s, then run kache init again)\n",
                    kcfg.empty() ? "config.toml" : kcfg.c_str());
    } else if (auto unit = service_unit_path(); !unit.empty() && present(unit)) {
        std::printf("service: %s is installed\n", unit.c_str());
    } else {
        pending = true;
        std::printf("service: %sinstall and start kached as a user service (kache daemon install)\n", would);
        if (!check) {
            auto kached = util::sibling_exe("kached");
            auto run = kached ? util::run_capture({kached->string(), "daemon", "install"})
                              : Result<util::ChildResult>(fail(ErrorKind::not_found, "kached is not installed next to kache"));
            if (!run || run->exit_code != 0) {
                std::string why = !run ? run.error().message : run->err.empty() ? run->out : run->err;
                while (!why.empty() && why.back() == '\n') why.pop_back();
                std::fprintf(stderr, "kache init: the service was not installed: %s (start the daemon with `kache daemon start`)\n",
                             why.c_str());
                failed = true;
            } else {
                std::fputs(run->out.c_str(), stdout);
            }
        }
    }

    if (check) {
        std::printf(pending ? "changes pending: run kache init without --check\n" : "nothing to do\n");
        return pending ? 1 : 0;
    }
    return failed ? 1 : 0;
}

} // namespace kache::app
