// kache/key.hpp — the two-level cache-key recipe of DESIGN.md.
//
// K1, the invocation key, is computed before compiling from the toolchain, the
// normalized command line, the files rustc reads that dep-info does not list,
// the linker and the steering environment. A manifest under K1 lists the input
// sets (files from the compile's own dep-info, with content digests, and the
// `# env-dep:` variables) seen for it; K2 = H(K1, input set) names the entry.
#pragma once

#include <kache/error.hpp>
#include <kache/hash.hpp>
#include <kache/rustc.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::key {

// Bumped whenever the recipe changes, so old entries are never reused wrongly.
// 2: sentinel syntax in user data is escaped ("{{kache:}}" stands for a literal "{{"
// before "kache:"), so stored text written by recipe 1 may mean something else.
inline constexpr std::string_view k_recipe = "kache-recipe-2";

// A machine-local directory that paths are expressed relative to, so that the
// same sources at another path (or machine) produce the same keys.
struct Root {
    std::string name; // "target", "cwd", "cargo", "home", "tmp"
    std::string path; // absolute, without trailing '/'
};

// Rewrites paths under the roots to sentinels ("{{kache:cwd}}/src/lib.rs") and back.
// User text that already holds the sentinel syntax is escaped first (every
// "{{kache:" becomes "{{kache:}}kache:"), so normalize and expand are inverse
// bijections: no file name or value can pass for a sentinel.
class PathMap {
public:
    PathMap() = default;
    explicit PathMap(std::vector<Root> roots);

    // Escapes the sentinel syntax, then replaces every root occurrence in text that
    // starts a path (at the start, or after a non-path character) and ends at a
    // path boundary.
    std::string normalize(std::string_view text) const;
    // Replaces sentinels by this machine's roots and unescapes; a sentinel of a
    // root this machine lacks is kept as it is.
    std::string expand(std::string_view text) const;
    // normalize/expand for JSON text, where the roots appear JSON-escaped.
    std::string normalize_json(std::string_view text) const;
    std::string expand_json(std::string_view text) const;

    // Compiler output (stdout/stderr) to storage form: both this machine's roots
    // and their remapped forms ("/kache/cwd") become sentinels. json: the text
    // is JSON lines, where paths are escaped.
    std::string normalize_output(std::string_view text, bool json) const;
    // Compiler output as the person at this checkout would have seen it without
    // remapping: "/kache/<root>" back to the real root path.
    std::string unremap_output(std::string_view text, bool json) const;

    const std::vector<Root>& roots() const noexcept { return roots_; }
    // The `--remap-path-prefix` arguments that map each root to a fixed
    // machine-independent path (more specific roots last, since the last match wins).
    std::vector<std::string> remap_args() const;
    // The fixed path a root is remapped to ("/kache/<name>").
    static std::string remap_target(std::string_view name);

    static std::string sentinel(std::string_view name);
    // Storage form of user text kept raw (path-specific): the sentinel syntax
    // escaped, no root replaced. expand() gives the text back.
    static std::string escape(std::string_view text);

private:
    std::string expand_with(std::string_view text, bool json) const;
    std::vector<Root> roots_; // longest path first
};

// Finds the roots for an invocation: the target dir (the ancestor of out_dir
// holding cargo's CACHEDIR.TAG), the working directory when the source path is
// relative (a workspace member), CARGO_HOME, HOME and the temp dir.
PathMap roots_for(const rustc::Invocation& inv, const std::filesystem::path& cwd);

// One named part of K1, kept so `why-miss`-style diagnostics can print them.
struct Component {
    std::string name;
    std::string value; // human-readable
};

// A file K1 hashed, with its stamp as seen before it was read.
struct FileInput {
    std::filesystem::path path; // absolute
    util::FileStamp stamp;
    bool check_ctime = true;    // false for --extern files, whose ctime kache's own links move
};

// The invocation key and what went into it.
struct InvocationKey {
    hash::Digest digest;
    std::vector<Component> components;
    std::vector<FileInput> files; // what changed_file_input() re-checks after the compile
};

// The first of K1's files whose stamp now differs from the one the key saw
// (replaced or written after the key was computed, perhaps before rustc read
// it): its path; nullopt when all are as they were. One stat per file.
std::optional<std::filesystem::path> changed_file_input(const std::vector<FileInput>& files);

// Everything outside the command line that K1 needs, gathered by the caller
// (so this module stays pure and testable).
struct KeyContext {
    std::string compiler_identity;            // toolchain digest hex (rustc -vV, clippy -V)
    std::string linker_identity;              // "" unless the invocation links
    std::string host_cpu;                     // "" unless -C target-cpu=native: the CPU rustc resolves
    std::vector<std::pair<std::string, std::string>> env; // steering variables, sorted, raw values
    std::filesystem::path cwd;
    bool remapped = true;                     // kache adds --remap-path-prefix for the roots
    std::string mode = "rustc";               // "rustc" or "clippy"
};

// Computes K1. Reads the files the invocation names outside dep-info (externs,
// static libraries, target specs, argfiles, link-arg files, profile data)
// through the hash cache. ErrorKind::unsupported when an input cannot be seen.
Result<InvocationKey> invocation_key(const rustc::Invocation& inv, const KeyContext& ctx, const PathMap& paths,
                                     hash::FileHashCache& hashes);

// Is this environment variable part of the key by default? (CARGO_* variables
// cargo sets for rustc, OUT_DIR, RUSTC_BOOTSTRAP, clippy's, and the linker's.)
bool is_steering_env(std::string_view name);

// Is it one that only the linker reads (LD_RUN_PATH, LIBRARY_PATH, ...)? Those
// are keyed only for invocations that link.
bool is_linker_env(std::string_view name);

// True when the invocation's (last) -C target-cpu is `native`: then the key
// needs the CPU that rustc resolves it to (KeyContext::host_cpu).
bool wants_native_cpu(const rustc::Invocation& inv);

// One input file of an input set: its normalized path and content digest.
struct InputFile {
    std::string path; // normalized (sentinels), or relative to cwd as rustc wrote it
    hash::Digest digest;
    bool operator==(const InputFile&) const = default;
};

// The digest an input set gives a path that must hold no regular file for the set to
// match: a place the linker looked for a library before the one it took (a library
// put there later would be linked instead). No digest of a file is compared with it,
// and a recorded file that hashes to it is refused. Kaches that predate it never
// match such a set (the path has no file, or a file with another digest).
inline constexpr hash::Digest k_absent_input{};

// The inputs of one compile, as its dep-info listed them.
struct InputSet {
    std::vector<InputFile> files;                                          // sorted by path
    std::vector<std::pair<std::string, std::optional<std::string>>> env;  // sorted by name
    std::int64_t created_ms = 0;

    hash::Digest digest() const;
    bool operator==(const InputSet& o) const { return files == o.files && env == o.env; }
};

// K2 = H(K1, input set).
hash::Digest result_key(const hash::Digest& k1, const InputSet& set);

} // namespace kache::key

namespace kache::key {

// The build session a wrapper runs in: its parent process (cargo), told apart
// from a later process with the same pid by its start time and the boot.
struct BuildSession {
    long long parent_pid = 0;
    unsigned long long start_ticks = 0; // /proc/<pid>/stat field 22
    long long boot_epoch_s = 0;         // wall-clock time of the boot
    std::string text() const;           // "<pid> <start> <boot>", as recorded
    bool same_as(std::string_view recorded) const;
};
// The boot time computed from two clocks moves a little under NTP slew.
inline constexpr long long k_boot_epoch_slack_s = 2;
// The session of this process (one read of /proc/<ppid>/stat, no process
// spawned); nullopt when it cannot be told (then nothing is trusted).
std::optional<BuildSession> current_build_session();
// The start time in /proc/<pid>/stat text (untrusted); parent_pid and
// boot_epoch_s are left 0.
std::optional<BuildSession> parse_proc_stat(std::string_view text);

// The identity of a compiler command prefix (["/path/rustc"] or
// ["/path/clippy-driver", "/path/rustc"]): a digest of `-vV` output (and
// clippy's `-V`) and of the driver library the toolchain runs
// (<sysroot>/lib/librustc_driver-*.so: its name and size). Cached in cache_dir
// per binary path and rustup toolchain, and valid while the binaries and the
// driver library keep their stamps (an in-place update is noticed). When the
// prefix is not the toolchain's own binary (a shim or rustup's proxy, which may
// run another toolchain from the same path), the cached answer is also tied to
// the build session: each cargo process asks the compiler once.
Result<std::string> toolchain_identity(const std::vector<std::string>& prefix, const std::filesystem::path& cache_dir,
                                       const std::filesystem::path& tmp_dir);

// The identity of the linker an invocation would use: its resolved path, size
// and mtime ("" if it cannot be found: then the name alone is used).
std::string linker_identity(const rustc::Invocation& inv);

// What `-C target-cpu=native` means on this host for this toolchain: the CPU
// name (`--print target-cpus`, "native (currently X)") and the target_feature
// set (`-C target-cpu=native --print cfg`), as one line. Cached in cache_dir
// per toolchain identity (toolchain_identity is called first), --target and host
// fingerprint, so a hit does not run the compiler. ErrorKind::unsupported
// when the compiler cannot tell.
Result<std::string> native_cpu(const std::vector<std::string>& prefix, const std::string& target,
                               const std::filesystem::path& cache_dir, const std::filesystem::path& tmp_dir);

} // namespace kache::key
