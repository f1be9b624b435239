#include <kache/key.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>

#include <unistd.h>

#include <algorithm>

namespace kache::key {

namespace fs = std::filesystem;

namespace {

// What every sentinel starts with, and what user data's own copy of it is
// escaped to: "{{kache:}}" (a sentinel with no name) stands for "{{".
constexpr std::string_view k_sentinel_open = "{{kache:";
constexpr std::string_view k_escaped_open = "{{kache:}}kache:";

bool is_path_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' || c == '/' || c == '~' ||
           c == '+' || c == '@';
}

// A path glued to a one-letter option that starts a token, as in
// "link-arg=-L/dir" or "-I/dir": the option's letter is not part of the path.
bool after_short_option(std::string_view text, size_t hit) {
    if (hit < 2 || text[hit - 2] != '-' || !std::isalpha(static_cast<unsigned char>(text[hit - 1]))) return false;
    if (hit == 2) return true;
    char before = text[hit - 3];
    return !is_path_char(before) || before == '=';
}

// Replaces `from` by `to` wherever from stands as a whole path prefix.
std::string replace_paths(std::string_view text, std::string_view from, std::string_view to) {
    if (from.empty()) return std::string(text);
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        size_t end = hit + from.size();
        // A root starts a path: at the start, or after a separator — never right
        // after a sentinel just written ("{{kache:cwd}}/tmp" must keep its "/tmp").
        bool start_ok = hit == 0 || ((!is_path_char(text[hit - 1]) || text[hit - 1] == '=') && text[hit - 1] != '}') ||
                        after_short_option(text, hit);
        bool end_ok = end == text.size() || text[end] == '/' || !is_path_char(text[end]);
        if (start_ok && end_ok) {
            out.append(text.substr(pos, hit - pos));
            out.append(to);
            pos = end;
        } else {
            out.append(text.substr(pos, hit + 1 - pos));
            pos = hit + 1;
        }
    }
    out.append(text.substr(pos));
    return out;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        out.append(to);
        pos = hit + from.size();
    }
    out.append(text.substr(pos));
    return out;
}

std::string clean_root(std::string p) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    return p;
}

fs::path absolute_in(const fs::path& p, const fs::path& cwd) { return p.is_absolute() ? p : cwd / p; }

} // namespace

PathMap::PathMap(std::vector<Root> roots) : roots_(std::move(roots)) {
    std::stable_sort(roots_.begin(), roots_.end(),
                     [](const Root& a, const Root& b) { return a.path.size() > b.path.size(); });
}

std::string PathMap::sentinel(std::string_view name) { return std::string(k_sentinel_open) + std::string(name) + "}}"; }

std::string PathMap::escape(std::string_view text) {
    if (text.find(k_sentinel_open) == std::string_view::npos) return std::string(text);
    return replace_all(text, k_sentinel_open, k_escaped_open);
}

std::string PathMap::normalize(std::string_view text) const {
    std::string out = escape(text);
    // Most arguments name no root: skip the rewrite (and its copies) for those.
    for (auto& r : roots_)
        if (out.find(r.path) != std::string::npos) out = replace_paths(out, r.path, sentinel(r.name));
    return out;
}

// One pass from left to right: in normalized text every "{{kache:" starts a
// token, a root's sentinel or the escape, never user data.
std::string PathMap::expand_with(std::string_view text, bool json) const {
    if (text.find(k_sentinel_open) == std::string_view::npos) return std::string(text);
    std::string out;
    size_t pos = 0;
    while (true) {
        size_t hit = text.find(k_sentinel_open, pos);
        if (hit == std::string_view::npos) break;
        out.append(text.substr(pos, hit - pos));
        size_t name_at = hit + k_sentinel_open.size();
        size_t close = text.find("}}", name_at);
        std::string_view name =
            close == std::string_view::npos ? std::string_view() : text.substr(name_at, close - name_at);
        const Root* root = nullptr;
        if (close != std::string_view::npos)
            for (auto& r : roots_)
                if (r.name == name) root = &r;
        if (close != std::string_view::npos && name.empty()) {
            out.append("{{"); // the escape: user data's own "{{", followed by its "kache:"
            pos = close + 2;
        } else if (root) {
            out.append(json ? util::json_escape(root->path) : root->path);
            pos = close + 2;
        } else {
            out.append(k_sentinel_open); // a root this machine lacks: kept as it is
            pos = name_at;
        }
    }
    out.append(text.substr(pos));
    return out;
}

std::string PathMap::expand(std::string_view text) const { return expand_with(text, false); }

std::string PathMap::normalize_json(std::string_view text) const {
    std::string out = escape(text);
    for (auto& r : roots_) out = replace_paths(out, util::json_escape(r.path), sentinel(r.name));
    return out;
}

std::string PathMap::expand_json(std::string_view text) const { return expand_with(text, true); }

std::string PathMap::remap_target(std::string_view name) { return "/kache/" + std::string(name); }

std::vector<std::string> PathMap::remap_args() const {
    std::vector<std::string> out;
    // roots_ is longest first; rustc lets the last matching prefix win, so emit shortest first.
    for (auto it = roots_.rbegin(); it != roots_.rend(); ++it)
        out.push_back("--remap-path-prefix=" + it->path + "=" + remap_target(it->name));
    return out;
}

std::string PathMap::normalize_output(std::string_view text, bool json) const {
    std::string out = json ? normalize_json(text) : normalize(text);
    if (out.find("/kache/") == std::string::npos) return out;
    for (auto& r : roots_) out = replace_paths(out, remap_target(r.name), sentinel(r.name));
    return out;
}

std::string PathMap::unremap_output(std::string_view text, bool json) const {
    std::string out(text);
    if (out.find("/kache/") == std::string::npos) return out;
    for (auto& r : roots_) out = replace_paths(out, remap_target(r.name), json ? util::json_escape(r.path) : r.path);
    return out;
}

PathMap roots_for(const rustc::Invocation& inv, const fs::path& cwd) {
    std::vector<Root> roots;
    auto add = [&](std::string name, std::string path) {
        path = clean_root(std::move(path));
        if (path.size() < 2 || path[0] != '/') return;
        for (auto& r : roots)
            if (r.path == path) return; // the first (most specific meaning) wins
        roots.push_back({std::move(name), std::move(path)});
    };
    // The target dir: cargo marks it with CACHEDIR.TAG.
    if (!inv.out_dir.empty()) {
        fs::path dir = absolute_in(inv.out_dir, cwd).lexically_normal();
        for (int depth = 0; depth < 5 && dir.has_relative_path(); ++depth) {
            if (::access((dir / "CACHEDIR.TAG").c_str(), F_OK) == 0) {
                add("target", dir.string());
                break;
            }
            dir = dir.parent_path();
        }
    }
    if (!inv.source.empty() && inv.source[0] != '/') add("cwd", cwd.string());
    auto home = util::env("HOME");
    if (auto ch = util::env("CARGO_HOME")) add("cargo", *ch);
    else if (home) add("cargo", *home + "/.cargo");
    if (home) add("home", *home);
    add("tmp", util::env("TMPDIR").value_or("/tmp"));
    return PathMap(std::move(roots));
}

bool is_linker_env(std::string_view n) {
    // GNU ld: LD_RUN_PATH becomes the RUNPATH of an executable or shared object
    // linked without -rpath. The cc driver (gcc, clang): LIBRARY_PATH adds -L
    // directories; COMPILER_PATH and GCC_EXEC_PREFIX choose the collect2/ld it runs.
    // (LD_LIBRARY_PATH only helps ld find a shared library's own needs and is set
    // by cargo itself with target-dir paths: left out.)
    return n == "LD_RUN_PATH" || n == "LIBRARY_PATH" || n == "COMPILER_PATH" || n == "GCC_EXEC_PREFIX";
}

bool is_steering_env(std::string_view n) {
    auto starts = [&](std::string_view p) { return n.rfind(p, 0) == 0; };
    // What cargo sets for rustc (proc macros may read these without dep-info knowing).
    if (n == "CARGO" || n == "CARGO_MANIFEST_DIR" || n == "CARGO_MANIFEST_PATH" || n == "CARGO_CRATE_NAME" ||
        n == "CARGO_BIN_NAME" || n == "CARGO_PRIMARY_PACKAGE" || n == "CARGO_TARGET_TMPDIR" ||
        n == "CARGO_RUSTC_CURRENT_DIR" || starts("CARGO_PKG_") || starts("CARGO_BIN_EXE_") || starts("CARGO_CFG_") ||
        starts("CARGO_FEATURE_"))
        return true;
    if (is_linker_env(n)) return true;
    // Read by rustc itself and not reported in dep-info:
    //   RUSTC_BOOTSTRAP            unlocks unstable features (cfgs, codegen options);
    //   RUSTC_FORCE_RUSTC_VERSION  goes into the crate metadata's version hash;
    //   SOURCE_DATE_EPOCH          read by build tooling and macros for timestamps;
    //   RUST_TARGET_PATH           where a --target name's JSON spec is looked up;
    //   CLIPPY_ARGS/CLIPPY_CONF_DIR clippy's lints and configuration;
    //   SDKROOT, DEVELOPER_DIR     the Apple SDK rustc links against (xcrun reads DEVELOPER_DIR);
    //   *_DEPLOYMENT_TARGET        the minimum OS version for Apple targets (MACOSX_, IPHONEOS_,
    //                              TVOS_, WATCHOS_, XROS_): in the object files' target triple.
    // Not keyed: RUST_MIN_STACK (rustc's own thread stack, not its output); RUSTC_LINKER
    // (cargo's, reaching rustc as -C linker, on the command line); CARGO_ENCODED_RUSTFLAGS
    // (cargo turns it into arguments).
    return n == "OUT_DIR" || n == "RUSTC_BOOTSTRAP" || n == "RUSTC_FORCE_RUSTC_VERSION" ||
           n == "SOURCE_DATE_EPOCH" || n == "CLIPPY_ARGS" || n == "CLIPPY_CONF_DIR" || n == "RUST_TARGET_PATH" ||
           n == "SDKROOT" || n == "DEVELOPER_DIR" || n.ends_with("_DEPLOYMENT_TARGET");
}

bool wants_native_cpu(const rustc::Invocation& inv) {
    // rustc lets the last -C target-cpu win.
    std::string cpu;
    for (auto& a : inv.args) {
        if (a.flag != "-C" || rustc::codegen_option_name(a.value) != "target-cpu") continue;
        auto eq = a.value.find('=');
        cpu = eq == std::string::npos ? "" : a.value.substr(eq + 1);
    }
    return cpu == "native";
}

namespace {

struct KeyBuilder {
    const PathMap& paths;
    hash::FileHashCache& hashes;
    const fs::path& cwd;
    std::string inputs; // human-readable list of out-of-dep-info inputs
    hash::Hasher inputs_hasher;
    std::vector<FileInput> files;

    // The digest of a file K1 depends on, its stamp kept for the re-check after the compile.
    Result<hash::Digest> stamped(const fs::path& p, bool check_ctime) {
        fs::path abs = absolute_in(p, cwd);
        auto d = hashes.digest_stamped(abs);
        if (!d) return std::unexpected(d.error());
        files.push_back({std::move(abs), d->stamp, check_ctime});
        return d->digest;
    }

    Result<hash::Digest> content(const fs::path& p, std::string_view why) {
        auto d = stamped(p, true);
        if (!d) return d;
        inputs += std::string(why) + " " + paths.normalize(p.string()) + " " + d->hex() + "\n";
        inputs_hasher.field(why).field(paths.normalize(p.string())).field(*d);
        return d;
    }
};

// The value of a keyed steering variable (ctx.env), or nullptr if it is not set.
const std::string* steering_value(const KeyContext& ctx, std::string_view name) {
    for (auto& [n, value] : ctx.env)
        if (n == name) return &value;
    return nullptr;
}

// Finds a native library file in the -L search paths, then in LIBRARY_PATH's
// directories (keyed only for a compile that links, where the cc driver hands
// them to the linker; rustc itself looks only in -L paths).
std::optional<fs::path> find_native(const rustc::Invocation& inv, const rustc::NativeLib& lib, const KeyContext& ctx,
                                    bool want_static) {
    std::vector<std::string> names;
    if (lib.modifiers.find("+verbatim") != std::string::npos) names.push_back(lib.name);
    else if (want_static) names.push_back("lib" + lib.name + ".a");
    else {
        names.push_back("lib" + lib.name + ".so");
        names.push_back("lib" + lib.name + ".a");
    }
    std::vector<std::string> dirs;
    for (auto& sp : inv.search_paths)
        if (sp.kind.empty() || sp.kind == "native" || sp.kind == "all")
            dirs.push_back(absolute_in(sp.path, ctx.cwd).string());
    auto readable = [](const std::string& p) { return ::access(p.c_str(), R_OK) == 0; };
    if (auto p = rustc::find_library(dirs, names, readable)) return fs::path(*p);
    if (const std::string* value = steering_value(ctx, "LIBRARY_PATH")) {
        dirs.clear();
        for (auto& d : rustc::library_path_dirs(*value))
            dirs.push_back(absolute_in(d, ctx.cwd).lexically_normal().string());
        if (auto p = rustc::find_library(dirs, names, readable)) return fs::path(*p);
    }
    return std::nullopt;
}

// The JSON file a --target names: a path given as such, or NAME.json in the
// first RUST_TARGET_PATH directory that has one (rustc prefers a built-in
// target of that name; keying the file then too only costs a miss).
std::optional<fs::path> target_spec_file(const rustc::Invocation& inv, const KeyContext& ctx) {
    if (inv.target.empty()) return std::nullopt;
    if (inv.target.ends_with(".json") || inv.target.find('/') != std::string::npos) return fs::path(inv.target);
    if (const std::string* value = steering_value(ctx, "RUST_TARGET_PATH")) {
        // A ':' list like LIBRARY_PATH's (an empty element is the working directory).
        for (auto& dir : rustc::library_path_dirs(*value)) {
            fs::path p = absolute_in(fs::path(dir) / (inv.target + ".json"), ctx.cwd);
            // rustc takes the first that is a file; unreadable, invocation_key refuses it.
            if (util::regular_file_at(p)) return p;
        }
    }
    return std::nullopt;
}

} // namespace

Result<InvocationKey> invocation_key(const rustc::Invocation& inv, const KeyContext& ctx, const PathMap& paths,
                                     hash::FileHashCache& hashes) {
    KeyBuilder kb{paths, hashes, ctx.cwd, {}, {}, {}};
    hash::Hasher args_hasher;
    std::string args_text;

    auto arg = [&](const std::string& flag, const std::string& value) {
        args_hasher.field(flag).field(value);
        args_text += (flag.empty() ? value : flag + " " + value) + "\n";
    };

    for (auto& a : inv.args) {
        if (rustc::is_incremental(a)) continue; // the directory: per target dir, never keyed
        if (a.flag == "--extern") {
            auto eq = a.value.find('=');
            if (eq == std::string::npos) {
                arg(a.flag, a.value);
                continue;
            }
            // kache links outputs into the store, which moves their ctime while
            // a dependent compiles: an extern is re-checked by size, mtime and inode.
            auto d = kb.stamped(a.value.substr(eq + 1), /*check_ctime=*/false);
            if (!d) return std::unexpected(d.error());
            arg(a.flag, a.value.substr(0, eq) + "=" + d->hex());
            continue;
        }
        arg(a.flag, paths.normalize(a.value));
    }

    // Files rustc (or the linker) reads that dep-info does not list.
    for (auto& f : inv.argfiles)
        if (auto d = kb.content(f, "argfile"); !d) return std::unexpected(d.error());
    for (auto& lib : inv.libs) {
        bool is_static = lib.kind == "static";
        if (!is_static && !inv.links()) continue; // only the name goes into an rlib
        auto found = find_native(inv, lib, ctx, is_static);
        if (found) {
            if (auto d = kb.content(*found, "native-lib"); !d) return std::unexpected(d.error());
        } else if (is_static) {
            return fail(ErrorKind::unsupported, "static library '" + lib.name + "' is not in any -L (or, linking, LIBRARY_PATH) directory");
        }
    }
    if (auto spec = target_spec_file(inv, ctx)) {
        if (::access(absolute_in(*spec, ctx.cwd).c_str(), R_OK) != 0)
            return fail(ErrorKind::unsupported, "target spec " + spec->string() + " cannot be read");
        if (auto d = kb.content(*spec, "target-spec"); !d) return std::unexpected(d.error());
    }
    for (auto& la : inv.link_args) {
        for (auto& part : util::split_list(la, ',')) {
            std::string cand = part;
            if (cand.rfind("-T", 0) == 0) cand = cand.substr(2);
            else if (cand.rfind("@", 0) == 0) cand = cand.substr(1);
            else if (!cand.empty() && cand[0] == '-') continue;
            if (cand.empty()) continue;
            fs::path p = absolute_in(cand, ctx.cwd);
            std::error_code ec;
            if (fs::is_regular_file(p, ec))
                if (auto d = kb.content(cand, "link-arg"); !d) return std::unexpected(d.error());
        }
    }
    if (!inv.profile_use.empty()) {
        if (::access(absolute_in(inv.profile_use, ctx.cwd).c_str(), R_OK) != 0)
            return fail(ErrorKind::unsupported, "profile data " + inv.profile_use + " cannot be read");
        if (auto d = kb.content(inv.profile_use, "profile-use"); !d) return std::unexpected(d.error());
    }

    std::string env_text;
    hash::Hasher env_hasher;
    for (auto& [name, value] : ctx.env) {
        std::string v = paths.normalize(value);
        env_hasher.field(name).field(v);
        env_text += name + "=" + v + "\n";
    }

    std::string roots_text;
    if (!ctx.remapped) {
        // Outputs will carry this machine's paths: never share them across paths.
        for (auto& r : paths.roots()) roots_text += r.name + "=" + r.path + "\n";
    } else {
        roots_text = "remapped";
    }

    InvocationKey key;
    key.components = {
        {"recipe", std::string(k_recipe)},
        {"mode", ctx.mode},
        {"incremental", inv.incremental ? "1" : ""},
        {"compiler", ctx.compiler_identity},
        {"cwd", paths.normalize(ctx.cwd.string())},
        {"args", args_text},
        {"inputs", kb.inputs},
        {"linker", inv.links() ? ctx.linker_identity : std::string()},
        {"host-cpu", ctx.host_cpu},
        {"env", env_text},
        {"paths", roots_text},
    };
    // Absent unless target-cpu=native / -C incremental, so other keys stay as they
    // were. An incremental compile generates other code (more codegen units, less
    // inlining): its result is never served to a non-incremental invocation, nor
    // the other way round.
    std::erase_if(key.components, [&](const Component& c) {
        return (c.name == "host-cpu" && ctx.host_cpu.empty()) || (c.name == "incremental" && !inv.incremental);
    });
    hash::Hasher h;
    for (auto& c : key.components) {
        h.field(c.name);
        if (c.name == "args") h.field(args_hasher.finish());
        else if (c.name == "inputs") h.field(kb.inputs_hasher.finish());
        else if (c.name == "env") h.field(env_hasher.finish());
        else h.field(c.value);
    }
    key.digest = h.finish();
    key.files = std::move(kb.files);
    return key;
}

std::optional<fs::path> changed_file_input(const std::vector<FileInput>& files) {
    for (auto& f : files) {
        auto now = util::stamp(f.path);
        if (!now) return f.path;
        const auto& then = f.stamp;
        if (now->size != then.size || now->mtime_ns != then.mtime_ns || now->inode != then.inode ||
            now->device != then.device || (f.check_ctime && now->ctime_ns != then.ctime_ns))
            return f.path;
    }
    return std::nullopt;
}

hash::Digest InputSet::digest() const {
    hash::Hasher h;
    h.field(std::uint64_t(files.size()));
    for (auto& f : files) h.field(f.path).field(f.digest);
    h.field(std::uint64_t(env.size()));
    for (auto& [name, value] : env) {
        h.field(name);
        h.field(std::uint64_t(value ? 1 : 0));
        if (value) h.field(*value);
    }
    return h.finish();
}

hash::Digest result_key(const hash::Digest& k1, const InputSet& set) {
    hash::Hasher h;
    h.field("k2").field(k1).field(set.digest());
    return h.finish();
}

} // namespace kache::key
