#include <kache/config.hpp>
#include <kache/events.hpp>
#include <kache/hash.hpp>
#include <kache/ipc.hpp>
#include <kache/key.hpp>
#include <kache/rustc.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>
#include <kache/wrapper.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

extern char** environ;

namespace kache::wrapper {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string basename_of(const std::string& p) {
    auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

bool is_clippy(const std::string& arg) { return basename_of(arg).find("clippy-driver") != std::string::npos; }

void warn(const std::string& msg) {
    std::string line = "kache: warning: " + msg + "\n";
    util::write_all(2, line);
}

// Rebuilds a command line from canonical arguments, leaving out -C incremental.
std::vector<std::string> rebuild_args(const rustc::Invocation& inv, bool strip_incremental) {
    std::vector<std::string> out;
    for (auto& a : inv.args) {
        if (a.flag.empty()) {
            out.push_back(a.value);
            continue;
        }
        if (strip_incremental && a.flag == "-C") {
            std::string key = a.value.substr(0, a.value.find('='));
            std::replace(key.begin(), key.end(), '_', '-');
            if (key == "incremental") continue;
        }
        out.push_back(a.flag);
        bool has_value = !(a.flag == "--test" || a.flag == "-g" || a.flag == "-O" || a.flag == "--verbose" ||
                           a.flag == "-v");
        if (has_value) out.push_back(a.value);
    }
    return out;
}

bool immutable_output(const std::string& name) { return name.ends_with(".rlib") || name.ends_with(".rmeta"); }
bool extern_like(const std::string& name) {
    return name.ends_with(".rlib") || name.ends_with(".rmeta") || name.ends_with(".so");
}

class Run {
public:
    explicit Run(const std::vector<std::string>& argv) : argv_(argv), t0_(Clock::now()) {}

    int go() {
        cfg_ = config::load();
        if (cfg_.disabled) return exec_compiler(argv_);
        maybe_start_session();

        // The compiler prefix: rustc, or clippy-driver followed by rustc. Any other
        // workspace wrapper in front of rustc may do anything: pass it through.
        if (!names_compiler(argv_[0])) return passthrough_early("workspace wrapper " + basename_of(argv_[0]));
        prefix_.push_back(argv_[0]);
        mode_ = "rustc";
        if (is_clippy(argv_[0])) {
            mode_ = "clippy";
            if (argv_.size() > 1 && names_compiler(argv_[1]) && !is_clippy(argv_[1])) prefix_.push_back(argv_[1]);
        }
        std::vector<std::string> args(argv_.begin() + static_cast<long>(prefix_.size()), argv_.end());

        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return fallback("cannot read the working directory");
        cwd_ = buf;

        auto parsed = rustc::parse(args, cwd_);
        if (!parsed) return fallback(parsed.error().message);
        inv_ = std::move(*parsed);
        crate_ = display_name();
        if (inv_.passthrough_reason) return passthrough(*inv_.passthrough_reason);
        if (inv_.incremental && cfg_.preserve_incremental) return passthrough("incremental (KACHE_PRESERVE_INCREMENTAL)");

        // Shown on a compile, whose stderr cargo prints (not on its -vV probes).
        warn_config_once();
        auto store = store::Store::open(cfg_.cache_dir);
        if (!store) return fallback(store.error().message);
        store_.emplace(std::move(*store));
        hashes_.emplace(store_->hash_cache_dir(), store_->tmp_dir());

        paths_ = key::roots_for(inv_, cwd_);
        remapped_ = !inv_.user_remap_scope;

        auto identity = key::toolchain_identity(prefix_, store_->toolchain_dir(), store_->tmp_dir());
        if (!identity) return fallback(identity.error().message);

        key::KeyContext ctx;
        ctx.compiler_identity = *identity;
        ctx.linker_identity = inv_.links() ? key::linker_identity(inv_) : "";
        ctx.env = steering_env();
        ctx.cwd = cwd_;
        ctx.remapped = remapped_;
        ctx.mode = mode_;
        auto k1 = key::invocation_key(inv_, ctx, paths_, *hashes_);
        if (!k1) {
            if (k1.error().kind == ErrorKind::unsupported) return passthrough(k1.error().message);
            return fallback(k1.error().message);
        }
        k1_ = k1->digest;

        if (auto code = try_hit()) return *code;
        // A local miss: the daemon may find it on the remote (before taking the
        // key's lock, which the daemon needs to import).
        if (remote_check())
            if (auto code = try_hit()) return *code;

        // Still a miss: one wrapper compiles under the key's lock; the others wait, then restore.
        auto lock = store_->lock_key(k1_, cfg_.lock_timeout);
        if (!lock) warn("cannot take the build lock (" + lock.error().message + "); compiling without it");
        else if (auto code = try_hit()) return *code;
        return compile_and_record();
    }

private:
    // The package as cargo names it (what remote keys and `kache list` use).
    std::string package_name() const {
        auto pkg = util::env("CARGO_PKG_NAME");
        return pkg && !pkg->empty() ? *pkg : inv_.crate_name;
    }

    // The package plus what kind of unit this is, for progress lines and events.
    std::string display_name() const {
        std::string name = package_name();
        if (inv_.crate_name.rfind("build_script_", 0) == 0) name += " (build script)";
        if (inv_.test) name += " (test)";
        return name;
    }

    std::vector<std::pair<std::string, std::string>> steering_env() const {
        std::vector<std::pair<std::string, std::string>> out;
        for (char** e = environ; *e; ++e) {
            std::string_view kv(*e);
            auto eq = kv.find('=');
            if (eq == std::string_view::npos) continue;
            std::string name(kv.substr(0, eq));
            // clippy's variables are set for the whole build; only clippy reads them.
            if (mode_ != "clippy" && name.rfind("CLIPPY_", 0) == 0) continue;
            bool wanted = key::is_steering_env(name) ||
                          std::find(cfg_.key_env_vars.begin(), cfg_.key_env_vars.end(), name) != cfg_.key_env_vars.end();
            if (wanted) out.emplace_back(name, std::string(kv.substr(eq + 1)));
        }
        // Variables asked for but unset are keyed as unset.
        for (auto& name : cfg_.key_env_vars)
            if (!std::getenv(name.c_str())) out.emplace_back(name, "\x01unset");
        std::sort(out.begin(), out.end());
        return out;
    }

    fs::path out_dir() const {
        fs::path p = inv_.out_dir;
        return p.is_absolute() ? p : cwd_ / p;
    }

    fs::path absolute(const std::string& p) const { return p.size() && p[0] == '/' ? fs::path(p) : cwd_ / p; }

    // Finds the newest input set of K1 whose files and variables match now.
    std::optional<store::Entry> lookup() {
        auto manifest = store_->read_manifest(k1_);
        if (!manifest) {
            if (manifest.error().kind == ErrorKind::corrupt) warn(manifest.error().message + " (ignored)");
            return std::nullopt;
        }
        for (auto& set : manifest->sets) {
            bool match = true;
            for (auto& [name, value] : set.env) {
                const char* now = std::getenv(name.c_str());
                bool same = value.has_value() == (now != nullptr);
                if (same && now) {
                    bool portable = value->find("{{kache:") != std::string::npos;
                    same = portable ? paths_.normalize(now) == *value : *value == now;
                }
                if (!same) {
                    match = false;
                    break;
                }
            }
            for (size_t i = 0; match && i < set.files.size(); ++i) {
                auto d = hashes_->digest(absolute(paths_.expand(set.files[i].path)));
                if (!d || *d != set.files[i].digest) match = false;
            }
            if (!match) continue;
            auto entry = store_->read_entry(key::result_key(k1_, set));
            if (entry) return std::move(*entry);
            if (entry.error().kind == ErrorKind::corrupt) warn(entry.error().message + " (ignored)");
        }
        return std::nullopt;
    }

    // Restores a recorded result; returns the exit status to give cargo, or
    // nullopt to compile.
    std::optional<int> try_hit() {
        auto entry = lookup();
        if (!entry) return std::nullopt;
        auto restored = restore(*entry);
        if (!restored) {
            warn("cannot restore " + crate_ + " from the cache (" + restored.error().message + "); compiling");
            if (restored.error().kind == ErrorKind::corrupt) {
                // Check every blob of the entry, so the recompile stores all bad ones again.
                for (auto& o : entry->outputs) {
                    fs::path blob = store_->blob_path(o.blob);
                    if (auto d = hash::of_file(blob); d && *d != o.blob) ::unlink(blob.c_str());
                }
                (void)store_->remove_entry(entry->k2);
            }
            return std::nullopt;
        }
        std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count();
        events::Event ev = base_event("hit");
        std::string origin = store_->take_origin(entry->k2);
        ev.source = origin.empty() ? "local" : origin;
        store_->touch_entry(entry->k2);
        ev.wrapper_us = us;
        ev.saved_ms = entry->compile_ms;
        ev.bytes = entry->total_size();
        events::append(store_->events_dir(), ev);
        if (cfg_.progress) {
            char line[512];
            std::snprintf(line, sizeof line, "[kache] %s: hit (%lld ms, %s)\n", crate_.c_str(),
                          static_cast<long long>(us / 1000), util::human_bytes(ev.bytes).c_str());
            util::write_all(2, line);
        }
        return entry->exit_code;
    }

    Result<void> restore(const store::Entry& e) {
        // The entry must describe exactly the outputs this invocation writes.
        auto expected = e.exit_code == 0 ? inv_.expected_outputs() : std::vector<std::string>{};
        std::vector<std::string> have;
        for (auto& o : e.outputs) have.push_back(o.name);
        std::sort(have.begin(), have.end());
        if (have != expected) return fail(ErrorKind::corrupt, "the entry's outputs do not match the invocation");

        fs::path dir = out_dir();
        if (auto made = util::make_dirs(dir); !made) return made;
        std::string out_text, err_text;
        if (e.stdout_blob) {
            auto t = store_->read_blob(*e.stdout_blob);
            if (!t) return std::unexpected(t.error());
            out_text = std::move(*t);
        }
        if (e.stderr_blob) {
            auto t = store_->read_blob(*e.stderr_blob);
            if (!t) return std::unexpected(t.error());
            err_text = std::move(*t);
        }
        for (auto& o : e.outputs) {
            fs::path dest = dir / o.name;
            if (o.dep_info) {
                auto text = store_->read_blob(o.blob, 64 << 20);
                if (!text) return std::unexpected(text.error());
                auto dep = rustc::parse_dep_info(*text);
                if (!dep) return fail(ErrorKind::corrupt, "stored dep-info: " + dep.error().message);
                map_dep_info(*dep, [&](const std::string& p) { return paths_.expand(p); });
                // Written in place: cargo reads it only after this process exits.
                if (auto w = write_plain(dest, rustc::write_dep_info(*dep), o.mode); !w) return w;
                continue;
            }
            fs::path blob = store_->blob_path(o.blob);
            if (cfg_.verify_blobs) {
                // Through the stat-keyed cache: a blob whose stamp is unchanged since
                // kache last saw it hashed right is not read again; any write to it
                // (or to a hardlinked output) changes the stamp and forces a rehash.
                auto d = hashes_->digest(blob, /*ignore_ctime=*/true);
                if (!d) return std::unexpected(d.error());
                if (*d != o.blob) {
                    ::unlink(blob.c_str());
                    return fail(ErrorKind::corrupt, "blob " + o.blob.hex() + " is corrupt (removed)");
                }
            }
            auto how = immutable_output(o.name) ? store::Placement::allow_link : store::Placement::copy_only;
            auto placed = store_->restore_file(o.blob, dest, o.mode, how);
            if (!placed) return std::unexpected(placed.error());
            // A link and its fresh mtime changed the stamp of the inode the blob and
            // the output share: record it once. A copy is a new inode: record it
            // when later compiles will hash it as an --extern.
            if (std::string_view(*placed) == "link" || extern_like(o.name)) hashes_->remember(dest, o.blob);
        }
        bool json = is_json_output();
        if (!out_text.empty()) util::write_all(1, json ? paths_.expand_json(out_text) : paths_.expand(out_text));
        if (!err_text.empty()) util::write_all(2, json ? paths_.expand_json(err_text) : paths_.expand(err_text));
        return ok();
    }

    static Result<void> write_plain(const fs::path& dest, std::string_view text, std::uint32_t mode) {
        ::unlink(dest.c_str());
        int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (fd < 0) return fail(ErrorKind::io, "cannot create " + dest.string() + ": " + std::strerror(errno));
        util::UniqueFd owner(fd);
        if (!util::write_all(fd, text)) return fail(ErrorKind::io, "cannot write " + dest.string() + ": " + std::strerror(errno));
        return ok();
    }

    bool is_json_output() const {
        for (auto& a : inv_.args)
            if (a.flag == "--error-format" && a.value.rfind("json", 0) == 0) return true;
        return false;
    }

    // Rewrites every path of a dep-info file, env-dep values included: cargo
    // compares those with its environment on the next build.
    template <class F>
    static void map_dep_info(rustc::DepInfo& dep, F f) {
        for (auto& r : dep.rules) {
            r.target = f(r.target);
            for (auto& d : r.deps) d = f(d);
        }
        for (auto& [name, value] : dep.env_deps)
            if (value) value = f(*value);
    }

    std::vector<std::string> compiler_command() const {
        std::vector<std::string> cmd = prefix_;
        if (remapped_) {
            // Every scope is remapped (diagnostics too, since rlib metadata keeps
            // diagnostic paths); the output stream is un-remapped for the reader.
            for (auto& a : paths_.remap_args()) cmd.push_back(a);
        }
        auto args = rebuild_args(inv_, true);
        cmd.insert(cmd.end(), args.begin(), args.end());
        // Without dep-info kache cannot know the inputs; ask rustc for it in a
        // private file (build-script probes compile like this).
        if (!private_dep_info_.empty()) cmd.push_back("--emit=dep-info=" + private_dep_info_.string());
        return cmd;
    }

    int compile_and_record() {
        if (inv_.dep_info_name().empty())
            private_dep_info_ = store_->tmp_dir() / ("dep-" + std::to_string(::getpid()) + "-" + k1_.hex() + ".d");
        // Taken from the fine clock: a file written before this moment has an
        // mtime (from the kernel's coarse clock) strictly below it.
        std::int64_t start_ns = util::now_ns();
        auto t_compile = Clock::now();
        bool json = is_json_output();
        util::LineFilter filter;
        if (remapped_) filter = [&](std::string_view line) { return paths_.unremap_output(line, json); };
        auto result = util::run_tee(compiler_command(), filter);
        if (!result) return fallback(result.error().message);
        std::int64_t compile_us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t_compile).count();

        events::Event ev = base_event("miss");
        ev.compile_us = compile_us;
        // A failed compile is not cached, except a build-script probe (one that did
        // not ask for dep-info) failing with rustc's ordinary error status: its
        // failure is the answer the build script wants, and it depends only on its inputs.
        bool cache_failure = !private_dep_info_.empty() && result->exit_code == 1;
        if (result->exit_code != 0 && !cache_failure) {
            ev.reason = "compile failed (exit " + std::to_string(result->exit_code) + "), not cached";
        } else if (auto rec = record(*result, start_ns, compile_us); !rec) {
            ev.reason = "not recorded: " + rec.error().message;
            if (rec.error().kind != ErrorKind::unsupported) warn("not caching " + crate_ + ": " + rec.error().message);
        } else {
            ev.bytes = *rec;
            queue_upload(key::result_key(k1_, recorded_set_));
        }
        ev.wrapper_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count() - compile_us;
        events::append(store_->events_dir(), ev);
        if (!private_dep_info_.empty()) ::unlink(private_dep_info_.c_str());
        return result->exit_code;
    }

    // Records the compile's outputs; returns the bytes stored.
    Result<std::uint64_t> record(const util::ChildResult& result, std::int64_t start_ns, std::int64_t compile_us) {
        fs::path dir = out_dir();
        fs::path dep_path = private_dep_info_.empty() ? dir / inv_.dep_info_name() : private_dep_info_;
        auto dep_text = util::read_file_bounded(dep_path, 64 << 20);
        if (!dep_text) return std::unexpected(dep_text.error());
        auto dep = rustc::parse_dep_info(*dep_text);
        if (!dep) return std::unexpected(dep.error());

        key::InputSet set;
        set.created_ms = util::now_ns() / 1000000;
        for (auto& input : dep->inputs()) {
            fs::path p = absolute(input);
            auto st = util::stamp(p);
            if (!st) return fail(ErrorKind::unsupported, "input " + input + " vanished during the compile");
            if (st->mtime_ns >= start_ns)
                return fail(ErrorKind::unsupported, "input " + input + " changed during the compile");
            auto d = hashes_->digest(p);
            if (!d) return std::unexpected(d.error());
            set.files.push_back({paths_.normalize(input), *d});
        }
        std::sort(set.files.begin(), set.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
        set.env = dep->env_deps;
        std::sort(set.env.begin(), set.env.end());
        portable_env_paths(set, dir);

        store::Entry entry;
        entry.crate = package_name();
        entry.version = util::env("CARGO_PKG_VERSION").value_or("");
        entry.k1 = k1_;
        entry.k2 = key::result_key(k1_, set);
        entry.created_ms = set.created_ms;
        entry.compile_ms = compile_us / 1000;
        entry.exit_code = result.exit_code;
        auto outputs = result.exit_code == 0 ? inv_.expected_outputs() : std::vector<std::string>{};
        for (auto& name : outputs) {
            fs::path p = dir / name;
            auto st = util::stamp(p);
            if (!st) return fail(ErrorKind::unsupported, "expected output " + name + " was not written");
            store::OutputFile o;
            o.name = name;
            o.mode = st->mode & 0777;
            if (name == inv_.dep_info_name()) {
                rustc::DepInfo normalized = *dep;
                map_dep_info(normalized, [&](const std::string& s) { return paths_.normalize(s); });
                std::string text = rustc::write_dep_info(normalized);
                auto d = store_->put_blob(text);
                if (!d) return std::unexpected(d.error());
                o.blob = *d;
                o.size = text.size();
                o.dep_info = true;
            } else {
                auto how = immutable_output(name) ? store::Placement::allow_link : store::Placement::copy_only;
                auto d = store_->put_blob_file(p, how);
                if (!d) return std::unexpected(d.error());
                o.blob = *d;
                o.size = st->size;
                hashes_->remember(store_->blob_path(*d), *d);
                if (extern_like(name)) hashes_->remember(p, *d);
            }
            entry.outputs.push_back(std::move(o));
        }
        bool json = is_json_output();
        if (!result.out.empty()) {
            auto d = store_->put_blob(paths_.normalize_output(result.out, json));
            if (!d) return std::unexpected(d.error());
            entry.stdout_blob = *d;
        }
        if (!result.err.empty()) {
            auto d = store_->put_blob(paths_.normalize_output(result.err, json));
            if (!d) return std::unexpected(d.error());
            entry.stderr_blob = *d;
        }
        if (auto w = store_->write_entry(entry); !w) return std::unexpected(w.error());
        if (auto m = store_->add_input_set(k1_, set); !m) return std::unexpected(m.error());
        recorded_set_ = set;
        return entry.total_size();
    }

    // An `env!` value that names a path under a root (OUT_DIR, a generated file)
    // is stored in sentinel form, so another checkout can match it, unless the
    // value itself was written into an output (then the bytes depend on it).
    void portable_env_paths(key::InputSet& set, const fs::path& dir) const {
        if (!remapped_) return;
        for (auto& [name, value] : set.env) {
            if (!value) continue;
            std::string normalized = paths_.normalize(*value);
            if (normalized == *value) continue;
            bool embedded = false;
            for (auto& out : inv_.expected_outputs()) {
                if (out == inv_.dep_info_name()) continue;
                if (file_contains(dir / out, *value)) {
                    embedded = true;
                    break;
                }
            }
            if (!embedded) value = normalized;
        }
    }

    static bool file_contains(const fs::path& p, const std::string& needle) {
        auto data = util::read_file_bounded(p, 4ull << 30);
        if (!data) return true; // cannot tell: assume the worst
        return data->find(needle) != std::string::npos;
    }

    // Configuration problems are shown once per build, not once per crate: a
    // marker named after the warnings' text, refreshed every ten minutes.
    void warn_config_once() {
        if (cfg_.warnings.empty()) return;
        std::string all;
        for (auto& w : cfg_.warnings) all += w + "\n";
        fs::path marker = cfg_.cache_dir / "tmp" / ("warned-" + hash::of(all).hex().substr(0, 16));
        struct stat st {};
        if (::stat(marker.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtim.tv_sec < 600) return;
        for (auto& w : cfg_.warnings) warn(w);
        int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) ::close(fd);
        (void)util::touch_now(marker);
    }

    bool remote_enabled() const { return cfg_.remote.configured(); }

    fs::path socket() const { return cfg_.effective_socket_path(); }

    // A build-session marker older than five minutes (or missing) means a new
    // session: hint the daemon so it prefetches the dependency graph. Costs one
    // stat per invocation; never waits for the daemon. When no daemon takes the
    // hint, the marker is removed (the next invocation tries again) and a daemon
    // is started, so a session that begins without one still gets its prefetch.
    void maybe_start_session() {
        if (!remote_enabled() || !cfg_.prefetch) return;
        fs::path marker = cfg_.cache_dir / "session";
        struct stat st {};
        std::int64_t now = util::now_ns();
        if (::stat(marker.c_str(), &st) == 0 &&
            now - (static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec) < k_session_ns)
            return;
        char buf[4096];
        if (!::getcwd(buf, sizeof buf)) return;
        // Marked before telling, so that the wrappers cargo starts alongside this
        // one do not send the same hint again.
        int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return;
        ::close(fd);
        (void)util::touch_now(marker);
        auto client = ipc::Client::connect(socket(), std::chrono::milliseconds(20));
        if (client && client->send(ipc::Request::session(buf), std::chrono::milliseconds(20))) return;
        ::unlink(marker.c_str());
        spawn_daemon();
    }

    // Asks the daemon to look for K1 on the remote; true if it imported something.
    bool remote_check() {
        if (!remote_enabled()) return false;
        auto client = ipc::Client::connect(socket(), std::chrono::milliseconds(50));
        if (!client) return false; // no daemon: logged nowhere, the build carries on
        auto reply = client->call(ipc::Request::check(k1_.hex(), package_name(), util::env("CARGO_PKG_VERSION").value_or("")),
                                  cfg_.remote_check_timeout);
        return reply && reply->flag("ok") && reply->num("found").value_or(0) > 0;
    }

    // Leaves a durable upload intent and tells the daemon; starts one if none answers.
    void queue_upload(const hash::Digest& k2) {
        if (!remote_enabled() || cfg_.remote.read_only) return;
        if (!store_->add_upload_intent(k2)) return;
        auto client = ipc::Client::connect(socket(), std::chrono::milliseconds(50));
        if (client) {
            (void)client->send(ipc::Request::upload(k2.hex()), std::chrono::milliseconds(50));
            return;
        }
        spawn_daemon();
    }

    // Starts `kache daemon start` detached, at most once every ten seconds.
    void spawn_daemon() {
        fs::path marker = cfg_.cache_dir / "daemon.spawned";
        struct stat st {};
        if (::stat(marker.c_str(), &st) == 0 && std::time(nullptr) - st.st_mtim.tv_sec < 10) return;
        int fd = ::open(marker.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) ::close(fd);
        (void)util::touch_now(marker);
        char self[4096];
        ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return;
        self[n] = 0;
        pid_t pid = ::fork();
        if (pid == 0) {
            ::setsid();
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            ::dup2(null, 2);
            if (::fork() == 0) {
                (void)util::exec_replace({self, "daemon", "start"});
            }
            ::_exit(0);
        }
        if (pid > 0) {
            int status;
            ::waitpid(pid, &status, 0);
        }
    }

    static constexpr std::int64_t k_session_ns = 5ll * 60 * 1000000000;

    events::Event base_event(const char* outcome) const {
        events::Event ev;
        ev.ts_ms = util::now_ns() / 1000000;
        ev.pid = ::getpid();
        ev.crate = crate_;
        ev.outcome = outcome;
        return ev;
    }

    void log_event(const char* outcome, const std::string& reason) {
        events::Event ev = base_event(outcome);
        ev.reason = reason;
        ev.wrapper_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0_).count();
        fs::path dir = store_ ? store_->events_dir() : cfg_.cache_dir / "events";
        events::append(dir, ev);
    }

    // Before the invocation is parsed: no crate name yet.
    int passthrough_early(const std::string& reason) {
        crate_ = util::env("CARGO_PKG_NAME").value_or("");
        return passthrough(reason);
    }

    int passthrough(const std::string& reason) {
        log_event("passthrough", reason);
        return exec_compiler(argv_);
    }

    // An internal failure: say so once, then behave as if kache were not there.
    int fallback(const std::string& reason) {
        warn(reason + "; running the compiler without the cache");
        log_event("error", reason);
        return exec_compiler(argv_);
    }

    int exec_compiler(const std::vector<std::string>& cmd) {
        Error e = util::exec_replace(cmd);
        util::write_all(2, "kache: error: " + e.message + "\n");
        return 127;
    }

    std::vector<std::string> argv_;
    Clock::time_point t0_;
    config::Config cfg_;
    std::vector<std::string> prefix_;
    std::string mode_;
    fs::path cwd_;
    rustc::Invocation inv_;
    std::string crate_;
    std::optional<store::Store> store_;
    std::optional<hash::FileHashCache> hashes_;
    key::PathMap paths_;
    bool remapped_ = true;
    hash::Digest k1_;
    fs::path private_dep_info_; // set when the invocation did not ask for dep-info
    key::InputSet recorded_set_;
};

} // namespace

bool names_compiler(const std::string& arg) {
    std::string base = basename_of(arg);
    if (base.ends_with(".exe")) base.resize(base.size() - 4);
    return base == "rustc" || base.ends_with("-rustc") || base.rfind("rustc-", 0) == 0 ||
           base.find("clippy-driver") != std::string::npos;
}

int run(const std::vector<std::string>& argv) {
    if (argv.empty()) return 2;
    return Run(argv).go();
}

} // namespace kache::wrapper
