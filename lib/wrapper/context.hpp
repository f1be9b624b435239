// lib/wrapper/context.hpp — private to the wrapper: one invocation's state, shared
// by the flow (wrapper.cpp), the lookup (lookup.cpp), the compile and record
// (record.cpp) and the daemon hints (daemon_hints.cpp).
#pragma once

#include <kache/config.hpp>
#include <kache/error.hpp>
#include <kache/events.hpp>
#include <kache/hash.hpp>
#include <kache/key.hpp>
#include <kache/rustc.hpp>
#include <kache/set_memo.hpp>
#include <kache/store.hpp>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::wrapper {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Largest dep-info file kache reads (stored or freshly written).
inline constexpr std::uint64_t k_max_dep_info_bytes = 64 << 20;

// Prints one "kache: warning: ..." line on stderr.
void warn(const std::string& msg);

// Outputs the store's placement policy lets share a blob's inode (store::placement_for).
inline bool immutable_output(const std::string& name) {
    return store::placement_for(name) == store::Placement::allow_link;
}

// Outputs later compiles read as --extern (so their digests are worth remembering).
inline bool extern_like(const std::string& name) {
    return name.ends_with(".rlib") || name.ends_with(".rmeta") || name.ends_with(".so");
}

// One compiler invocation once classified and keyed.
struct Context {
    std::vector<std::string> argv;   // the compiler command line as cargo gave it
    Clock::time_point t0 = Clock::now();
    config::Config cfg;
    std::vector<std::string> prefix; // rustc, or clippy-driver followed by rustc
    std::string mode = "rustc";      // "rustc" or "clippy"
    fs::path cwd;
    rustc::Invocation inv;
    std::string crate;               // the display name of progress lines and events
    std::optional<store::Store> store;
    std::optional<hash::FileHashCache> hashes;
    key::PathMap paths;
    bool remapped = true;            // kache adds --remap-path-prefix for the roots
    hash::Digest k1;
    std::vector<key::FileInput> k1_files; // the files K1 hashed, re-checked before recording
    std::string miss_reason;         // why the last lookup missed (events::k_miss_*), for the event
    mutable bool remote_unavailable = false; // a remote check could not be asked or answered
    std::vector<key::Component> k1_components; // what K1 was made of, kept for why-miss on a miss

    // The package as cargo names it (what remote keys and `kache list` use).
    std::string package_name() const;
    fs::path out_dir() const;
    fs::path absolute(const std::string& p) const;
    std::int64_t elapsed_us() const;
    // An event stamped now, for this invocation.
    events::Event event(const char* outcome) const;
};

// ---- lookup.cpp

// The invocation's source file (the crate root as rustc was given it) in the
// form an input set lists it: rustc's dep-info names it as given, and the
// recorder normalizes dep-info paths so.
std::string source_in_set(const key::PathMap& paths, const rustc::Invocation& inv);

// True when set lists source (source_in_set's form). A set that does not says
// nothing of the source's content (a failed compile that wrote no dep-info, a
// set planted in a remote): it is neither recorded nor matched.
bool lists_source(const key::InputSet& set, std::string_view source);

// The entry of the newest input set recorded under k1 that lists source and
// whose files (by content) and env-dep variables (by value) match now; nullopt
// on a miss. Corrupt manifests or entries are warned about and treated as a
// miss. On a miss, *why (if given) says which: events::k_miss_new,
// k_miss_inputs_changed, or a note. With a memo, files whose stamps it vouches
// for are not hashed again.
std::optional<store::Entry> find_entry(const store::Store& store, hash::FileHashCache& hashes,
                                       const key::PathMap& paths, const fs::path& cwd, const hash::Digest& k1,
                                       std::string_view source, std::string* why = nullptr,
                                       const key::SetMemo* memo = nullptr);

// Restores the entry matching ctx.k1, if any: the exit status to give cargo, or
// nullopt to compile. A corrupt entry is removed (and its bad blobs) first.
std::optional<int> try_hit(Context& ctx);

// ---- record.cpp

// Runs the compiler (remapped, -C incremental kept) and records what it
// produced; the compiler's exit status, or an error when it could not be run.
Result<int> compile_and_record(Context& ctx);

// ---- link_inputs.cpp

// True if the invocation runs the linker (bin, dylib, cdylib, proc-macro,
// --test), so rustc can print the linker's command line for it.
bool runs_linker(const rustc::Invocation& inv);

// Adds to set what the link read (the files named in link_args, the
// `--print link-args` file, "" when the compile did not link) and, for an rlib
// or staticlib, the archives in its native -L directories; leaves out the
// sysroot, system library dirs and this compile's own temporaries.
// ErrorKind::unsupported when an input changed during the compile.
Result<void> add_link_inputs(Context& ctx, const fs::path& link_args, std::int64_t start_ns,
                             key::InputSet& set);

// ---- daemon_hints.cpp

// Tells the daemon a build session began (so it prefetches), at most once per
// session; starts a daemon when none answers. compiler: argv[0] of this invocation;
// when it is rustc, its toolchain record is made in the background (see warm_toolchain).
void hint_session(const config::Config& cfg, const std::string& compiler);

// Asks the daemon to look for ctx.k1 on the remote; true if it imported something.
bool request_remote_check(const Context& ctx);

// Leaves a durable upload intent for k2 and tells the daemon.
void notify_upload(const Context& ctx, const hash::Digest& k2);

} // namespace kache::wrapper
