// What a link reads, added to a miss's input set: the files on the linker's
// command line (rustc prints it for us), and for an rlib or staticlib the native
// archives it may bundle. Dep-info lists neither.
#include "context.hpp"

#include <kache/util/fs.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

namespace kache::wrapper {

namespace {

// Largest linker command line kache reads back.
inline constexpr std::uint64_t k_max_link_args_bytes = 16 << 20;

// Directories whose libraries come with the system toolchain: covered by the
// compiler and linker identity, not keyed file by file.
inline constexpr std::array<std::string_view, 11> k_system_dirs = {
    "/usr/lib/", "/usr/lib32/", "/usr/lib64/", "/usr/libx32/", "/lib/", "/lib32/",
    "/lib64/",   "/libx32/",    "/dev/",       "/proc/",       "/sys/"};

// The rustc sysroot's layout: its libraries are covered by the toolchain identity.
inline constexpr std::string_view k_sysroot_libs = "/lib/rustlib/";

// rustc's private temp dirs ("rustc" and six random characters).
inline constexpr std::string_view k_rustc_temp_prefix = "rustc";
inline constexpr size_t k_rustc_temp_random = 6;

bool emits_link(const rustc::Invocation& inv) { return inv.emit.empty() || inv.emit.contains("link"); }

bool has_type(const rustc::Invocation& inv, std::string_view t) {
    return std::find(inv.crate_types.begin(), inv.crate_types.end(), t) != inv.crate_types.end();
}

bool covered_by_toolchain(Context& c, const std::string& abs) {
    for (auto d : k_system_dirs)
        if (abs.starts_with(d)) return true;
    if (abs.find(k_sysroot_libs) != std::string::npos) return true;
    if (!c.inv.sysroot.empty()) {
        std::string root = c.absolute(c.inv.sysroot).lexically_normal().string();
        if (!root.ends_with('/')) root += '/';
        if (abs.starts_with(root)) return true;
    }
    return false;
}

bool in_rustc_temp_dir(const fs::path& abs) {
    for (auto& part : abs.parent_path()) {
        std::string s = part.string();
        if (s.size() != k_rustc_temp_prefix.size() + k_rustc_temp_random || !s.starts_with(k_rustc_temp_prefix))
            continue;
        if (std::all_of(s.begin() + k_rustc_temp_prefix.size(), s.end(),
                        [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)); }))
            return true;
    }
    return false;
}

// Object files this compile wrote next to its outputs and deletes after linking.
bool own_intermediate(Context& c, const fs::path& abs) {
    if (abs.parent_path() != c.out_dir().lexically_normal()) return false;
    std::string stem = c.inv.crate_name + c.inv.extra_filename + ".";
    return abs.filename().string().starts_with(stem);
}

// Adds one path and its digest to the set, in sentinel form, once.
Result<void> add_entry(Context& c, const std::string& abs, const hash::Digest& d, key::InputSet& set) {
    std::string path = c.paths.normalize(abs);
    for (auto& f : set.files)
        if (f.path == path) return ok();
    set.files.push_back({path, d});
    return ok();
}

// Adds one file (stat'ed, hashed, in sentinel form) unless the toolchain covers
// it or it is a temporary of this compile (gone by now); refuses the record when
// another input vanished or changed while rustc ran.
Result<void> add_file(Context& c, const std::string& raw, std::int64_t start_ns, key::InputSet& set) {
    fs::path abs = c.absolute(raw).lexically_normal();
    std::string a = abs.string();
    if (covered_by_toolchain(c, a)) return ok();
    auto st = util::stamp(abs);
    if (!st) {
        // rustc deletes its temporaries once linked; any other file must still be there.
        if (in_rustc_temp_dir(abs) || own_intermediate(c, abs)) return ok();
        return fail(ErrorKind::unsupported, "link input " + raw + " vanished during the compile");
    }
    if (!S_ISREG(st->mode)) return ok(); // not a file the linker reads as data (a device, a directory)
    if (st->mtime_ns >= start_ns || st->ctime_ns >= start_ns)
        return fail(ErrorKind::unsupported, "link input " + raw + " changed during the compile");
    auto d = c.hashes->digest(abs);
    if (!d) return std::unexpected(d.error());
    if (*d == key::k_absent_input) return fail(ErrorKind::unsupported, "link input " + raw + " hashes to the absent mark");
    return add_entry(c, a, *d, set);
}

// Adds a place the linker looked for a library and found none (key::k_absent_input),
// unless the toolchain covers it: a set matches only while no file is there.
Result<void> add_absent(Context& c, const std::string& raw, key::InputSet& set) {
    fs::path abs = c.absolute(raw).lexically_normal();
    // rustc's own temporary directories are gone after the compile, and named anew each time.
    if (covered_by_toolchain(c, abs.string()) || in_rustc_temp_dir(abs)) return ok();
    return add_entry(c, abs.string(), key::k_absent_input, set);
}

// Every archive in the native search directories of an rlib or staticlib
// compile: a `#[link(kind = "static")]` attribute names one without any -l
// flag, and the archive is bundled into the output. rustc takes the first
// directory that has the name, so the same name in each earlier directory is
// keyed as absent: an archive put there later would be bundled instead.
Result<void> add_bundle_candidates(Context& c, std::int64_t start_ns, key::InputSet& set) {
    // The directories listed so far, with the archives each holds (keyed as files).
    std::vector<std::pair<fs::path, std::vector<std::string>>> searched;
    for (auto& sp : c.inv.search_paths) {
        if (!(sp.kind.empty() || sp.kind == "native" || sp.kind == "all")) continue;
        fs::path dir = c.absolute(sp.path).lexically_normal();
        if (covered_by_toolchain(c, dir.string() + "/")) continue;
        std::error_code ec;
        std::vector<std::string> archives;
        for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
            std::string name = it->path().filename().string();
            if (name.ends_with(".a") && it->is_regular_file(ec)) archives.push_back(name);
        }
        std::sort(archives.begin(), archives.end());
        for (auto& a : archives) {
            if (auto r = add_file(c, (dir / a).string(), start_ns, set); !r) return r;
            for (auto& [earlier, held] : searched)
                if (!std::binary_search(held.begin(), held.end(), a))
                    if (auto r = add_absent(c, (earlier / a).string(), set); !r) return r;
        }
        searched.emplace_back(dir, std::move(archives));
    }
    return ok();
}

} // namespace

bool runs_linker(const rustc::Invocation& inv) {
    if (!emits_link(inv)) return false;
    if (inv.crate_types.empty() || inv.test) return true;
    for (auto t : {"bin", "dylib", "cdylib", "proc-macro"})
        if (has_type(inv, t)) return true;
    return false;
}

Result<void> add_link_inputs(Context& c, const fs::path& link_args, std::int64_t start_ns,
                             key::InputSet& set) {
    if (!link_args.empty()) {
        auto text = util::read_file_bounded(link_args, k_max_link_args_bytes);
        // The file was created empty before the compile: empty means rustc did not write it.
        if (!text || text->empty()) return fail(ErrorKind::unsupported, "rustc wrote no linker command line");
        // The cc driver hands LIBRARY_PATH's directories to the linker after the -L ones.
        auto library_path = rustc::library_path_dirs(util::env("LIBRARY_PATH").value_or(""));
        auto parsed = rustc::parse_link_args(
            *text, [&](const std::string& p) { return util::regular_file_at(c.absolute(p)); }, library_path);
        if (!parsed) return fail(ErrorKind::unsupported, parsed.error().message);
        for (auto& f : parsed->files)
            if (auto r = add_file(c, f, start_ns, set); !r) return r;
        for (auto& a : parsed->absent)
            if (auto r = add_absent(c, a, set); !r) return r;
    }
    if (emits_link(c.inv) && (has_type(c.inv, "rlib") || has_type(c.inv, "lib") || has_type(c.inv, "staticlib")))
        if (auto r = add_bundle_candidates(c, start_ns, set); !r) return r;
    std::sort(set.files.begin(), set.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return ok();
}

} // namespace kache::wrapper
