// kache/rustc.hpp — a rustc command line as a typed invocation, and dep-info files.
//
//   auto inv = kache::rustc::parse(args);        // args after the compiler path
//   if (inv->passthrough_reason) exec the compiler untouched;
//   auto dep = kache::rustc::parse_dep_info(text);
#pragma once

#include <kache/error.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace kache::rustc {

// One option as rustc understands it, in canonical form: the flag spelled the
// long way where it has one ("--crate-name", "-C", "-L", "--extern", ...) and its
// value ("" for flags without one), or flag "" for a positional argument.
struct Arg {
    std::string flag;
    std::string value;
    bool operator==(const Arg&) const = default;
};

// True if the canonical flag takes a value ("-C", "--extern", ...); false for
// value-less flags ("--test", "-g", "-O", ...) and positional arguments.
bool takes_value(std::string_view flag);

// The option name of a `-C` value, with '_' spelled '-': "incremental" for
// "incremental=/x", "extra-filename" for "extra_filename=-abc".
std::string codegen_option_name(std::string_view value);

// True for `-C incremental=...`. Its directory (rustc's incremental state, in
// the build's own target dir) never enters the key; that the compile is
// incremental does (it changes the code rustc generates).
bool is_incremental(const Arg& arg);

// A native library request: -l [KIND[:MODIFIERS]=]NAME[:RENAME]
struct NativeLib {
    std::string kind;      // "static", "dylib", "framework", "link-arg" or "" (unspecified)
    std::string modifiers; // "+whole-archive,-bundle", ...
    std::string name;
};

// A library search path: -L [KIND=]PATH
struct SearchPath {
    std::string kind; // "dependency", "native", "crate", "framework", "all" or ""
    std::string path;
};

struct Extern {
    std::string name;
    std::string path; // empty for `--extern name` without a file
};

// A parsed rustc command line.
struct Invocation {
    std::vector<Arg> args;               // every option in order, argfiles expanded
    std::vector<std::string> argfiles;   // @file arguments read while expanding
    std::string crate_name;
    std::vector<std::string> crate_types; // empty means rustc's default (bin)
    std::string source;                   // the input file as given ("" if none, "-" for stdin)
    std::string out_dir;
    std::string out_file;                 // -o
    std::string extra_filename;           // -C extra-filename
    std::set<std::string> emit;           // kinds: dep-info, metadata, link, ...
    std::vector<Extern> externs;
    std::vector<SearchPath> search_paths;
    std::vector<NativeLib> libs;
    std::string target;                   // --target value
    std::string sysroot;                  // --sysroot value
    std::string linker;                   // -C linker
    std::vector<std::string> link_args;   // -C link-arg / link-args values
    std::string profile_use;              // -C profile-use
    bool incremental = false;             // -C incremental=... was given
    bool test = false;                    // --test
    bool user_remap_scope = false;        // --remap-path-scope given by the user
    bool user_remap_prefix = false;       // --remap-path-prefix (-Z remap-cwd-prefix) given by the user

    // Why this invocation cannot be cached (then the wrapper execs the compiler
    // untouched), or nullopt for a primary compile kache handles.
    std::optional<std::string> passthrough_reason;

    // True if an output kind links (executables and dynamic libraries).
    bool links() const;
    // The file names (in out_dir) this invocation writes, derived from the crate
    // types, the emit set and -C extra-filename.
    std::vector<std::string> expected_outputs() const;
    // The dep-info file name in out_dir ("" when dep-info is not emitted).
    std::string dep_info_name() const;
    // True when rustc writes its diagnostics as JSON lines (--error-format=json...),
    // where paths appear JSON-escaped.
    bool json_errors() const;
    // The arguments again as rustc reads them (argfiles expanded, canonical
    // spellings), `-C incremental` included.
    std::vector<std::string> command_line() const;
};

// Parses the arguments that follow the compiler path. `@file` arguments are
// read and expanded (relative to cwd). Never fails on odd input: anything kache
// does not understand sets passthrough_reason. Fails only when an argfile
// cannot be read.
Result<Invocation> parse(const std::vector<std::string>& args, const std::filesystem::path& cwd);

// ---- dep-info ----

// The contents of a `.d` file as rustc writes it.
struct DepInfo {
    // Each rule's target and prerequisites, in file order.
    struct Rule {
        std::string target;
        std::vector<std::string> deps;
    };
    std::vector<Rule> rules;
    // `# env-dep:NAME=VALUE` (or `# env-dep:NAME` for an unset variable: value nullopt).
    std::vector<std::pair<std::string, std::optional<std::string>>> env_deps;
    // Other comment lines, kept verbatim ("# checksum:...").
    std::vector<std::string> comments;

    // Every distinct prerequisite across rules, in first-seen order.
    std::vector<std::string> inputs() const;
    // Rewrites every path with f: targets, prerequisites and env-dep values
    // (cargo compares those with its environment on the next build).
    void map_paths(const std::function<std::string(const std::string&)>& f);
};

// Parses dep-info text, undoing rustc's escapes (`\ ` in paths; `\n`, `\r`, `\\`
// in env-dep values). ErrorKind::invalid_input on malformed text.
Result<DepInfo> parse_dep_info(std::string_view text);

// Writes dep-info text in rustc's format (the inverse of parse_dep_info).
std::string write_dep_info(const DepInfo& dep);

// ---- the linker's command line (link_args.cpp)

// What a link reads, from the command line rustc writes for `--print link-args`.
struct LinkInputs {
    // Files the linker reads, in command-line order, each once, as written
    // (relative paths are relative to rustc's working directory): objects,
    // rlibs, archives, `-l` libraries found in a `-L` directory, linker
    // scripts, version scripts, dynamic lists, `@` response files.
    std::vector<std::string> files;
    // `-l` names found in no `-L` (or LIBRARY_PATH) directory: the linker takes
    // them from its own (system) search path.
    std::vector<std::string> unresolved;
    // The places the `-l` searches looked at and found no file in, before the one
    // each took (every place, for an unresolved name), each once, in search order:
    // a library appearing at one of them would be linked instead.
    std::vector<std::string> absent;
};

// Parses the linker command line (`VAR="v" ... "cc" "arg" ...`, each token
// quoted and escaped as rustc prints it; bare tokens are read as they are).
// `-l` names are resolved the way ld does, against every `-L` directory in
// order, honouring -Bstatic/-Bdynamic/-static and `-l:file`; `is_file(path)`
// says whether a candidate exists (the only look at the file system, so the
// function is pure for tests). The output file (-o) is left out.
// ErrorKind::invalid_input on an unterminated quote or a bad escape.
// `library_path` is the directories of LIBRARY_PATH (library_path_dirs), searched
// after the -L ones as the cc driver has ld do.
Result<LinkInputs> parse_link_args(std::string_view text, const std::function<bool(const std::string&)>& is_file,
                                   const std::vector<std::string>& library_path = {});

// The directories the cc driver (gcc, clang) adds to the linker's search path
// from LIBRARY_PATH's value, in order: ':'-separated, an empty element meaning
// the working directory (".").
std::vector<std::string> library_path_dirs(std::string_view value);

// The one search for a native library file, as ld does it: each directory in
// turn, and within one the names in order (shared before archive); the path
// found (dir/name) or nullopt. is_file is the only look at the file system.
std::optional<std::string> find_library(const std::vector<std::string>& dirs, const std::vector<std::string>& names,
                                        const std::function<bool(const std::string&)>& is_file);

} // namespace kache::rustc
