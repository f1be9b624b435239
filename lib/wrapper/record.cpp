// The wrapper's miss: run the real compiler and record its outputs, stdout,
// stderr and the input set its dep-info names.
#include "context.hpp"
#include "miss_notes.hpp"
#include "path_scan.hpp"

#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>

namespace kache::wrapper {

namespace {

// Whether rustc's errors say a file the code names could not be found or read:
// E0583 (`mod x;` without x.rs, `#[path]`) or "couldn't read" (include!,
// include_str!, include_bytes!), in plain or JSON form.
bool names_missing_file(std::string_view err) {
    return err.find("E0583") != std::string_view::npos || err.find("couldn't read") != std::string_view::npos;
}

class Recorder {
public:
    explicit Recorder(Context& c) : c_(c) {}

    // rustc refuses to compile over an output it cannot write ("output file ... is not
    // writeable"). Older versions of kache could leave one: a read-only blob linked into
    // the tree. It is unlinked, never chmod-ed (that would change the store's inode);
    // rustc writes it anew. One lstat per expected output, on misses only.
    void release_read_only_outputs() const {
        for (auto& name : c_.inv.expected_outputs()) {
            fs::path p = c_.out_dir() / name;
            struct stat st {};
            if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && !(st.st_mode & S_IWUSR)) ::unlink(p.c_str());
        }
    }

    Result<int> compile() {
        // Files rustc writes for kache go beside the outputs it writes anyway: a
        // full or unusable store must not be what fails the compile. They are
        // created first, so a directory rustc cannot write to means: uncached.
        std::string tag = std::to_string(::getpid()) + "-" + c_.k1.hex();
        if (c_.inv.dep_info_name().empty()) private_dep_info_ = c_.out_dir() / (".kache-dep-" + tag + ".d");
        if (runs_linker(c_.inv)) link_args_ = c_.out_dir() / (".kache-link-" + tag + ".txt");
        bool created = creatable(private_dep_info_) && creatable(link_args_);
        util::ScopedUnlink drop_dep(private_dep_info_), drop_link(link_args_); // whatever happens next
        if (!created) {
            private_dep_info_.clear();
            link_args_.clear();
            uncached_ = true;
        }
        release_read_only_outputs();
        // Taken from the fine clock: a file written before this moment has an
        // mtime (from the kernel's coarse clock) strictly below it.
        std::int64_t start_ns = util::now_ns();
        auto t_compile = Clock::now();
        bool json = c_.inv.json_errors();
        util::LineFilter filter;
        if (c_.remapped) filter = [&](std::string_view line) { return c_.paths.unremap_output(line, json); };
        auto result = util::run_tee(compiler_command(), filter);
        if (!result) return std::unexpected(result.error());
        std::int64_t compile_us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t_compile).count();

        events::Event ev = c_.event("miss");
        ev.compile_us = compile_us;
        ev.miss_reason = c_.miss_reason;
        ev.key = c_.k1.hex();
        // A failed compile is not cached, except a build-script probe (one that did
        // not ask for dep-info) failing with rustc's ordinary error status: its
        // failure is the answer the build script wants, and it depends only on its inputs.
        // Not when a file the code names was missing or unreadable (a `mod x;` without
        // x.rs, an include_str! of a missing file): rustc's dep-info cannot list a
        // file it did not find, so its later creation would not be seen.
        bool cache_failure = !private_dep_info_.empty() && result->exit_code == 1 && !names_missing_file(result->err);
        if (uncached_) {
            ev.reason = "not recorded: cannot create files in " + c_.out_dir().string();
        } else if (result->exit_code != 0 && !cache_failure) {
            ev.reason = "compile failed (exit " + std::to_string(result->exit_code) + "), not cached";
        } else if (auto rec = record_guarded(*result, start_ns, compile_us); !rec) {
            ev.reason = "not recorded: " + rec.error().message;
            if (rec.error().kind != ErrorKind::unsupported)
                warn("not caching " + c_.crate + ": " + rec.error().message);
        } else {
            ev.bytes = *rec;
            auto k2 = key::result_key(c_.k1, recorded_set_);
            ev.key = k2.hex();
            notify_upload(c_, k2);
            note_stored_bytes(c_, *rec);
        }
        note_miss(c_, ev.reason.empty() ? &recorded_set_ : nullptr, ev.reason);
        ev.wrapper_us = c_.elapsed_us() - compile_us;
        events::append(c_.store->events_dir(), ev);
        return result->exit_code;
    }

private:
    // Creates (empty) a file for rustc to write; an empty path needs nothing.
    static bool creatable(const fs::path& p) {
        if (p.empty()) return true;
        int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
        if (fd < 0) return false;
        ::close(fd);
        return true;
    }

    std::vector<std::string> compiler_command() const {
        std::vector<std::string> cmd = c_.prefix;
        if (c_.remapped) {
            // Every scope is remapped (diagnostics too, since rlib metadata keeps
            // diagnostic paths); the output stream is un-remapped for the reader.
            for (auto& a : c_.paths.remap_args()) cmd.push_back(a);
        }
        // `-C incremental` stays: an edited member compiles at rustc's incremental
        // speed from the state in its own target dir, which kache never stores.
        auto args = c_.inv.command_line();
        cmd.insert(cmd.end(), args.begin(), args.end());
        // Without dep-info kache cannot know the inputs; ask rustc for it in a
        // private file (build-script probes compile like this).
        if (!private_dep_info_.empty()) cmd.push_back("--emit=dep-info=" + private_dep_info_.string());
        // What the link reads, written to a private file (never to cargo's stdout).
        if (!link_args_.empty()) {
            cmd.push_back("--print");
            cmd.push_back("link-args=" + link_args_.string());
        }
        return cmd;
    }

    // The compile has run and cargo has its output: an exception while
    // recording must not run the compiler a second time, only skip the record.
    Result<std::uint64_t> record_guarded(const util::ChildResult& result, std::int64_t start_ns,
                                         std::int64_t compile_us) {
        try {
            return record(result, start_ns, compile_us);
        } catch (const std::exception& e) {
            return fail(ErrorKind::io, std::string("internal error: ") + e.what());
        }
    }

    // Records the compile's outputs; returns the bytes stored.
    Result<std::uint64_t> record(const util::ChildResult& result, std::int64_t start_ns, std::int64_t compile_us) {
        fs::path dir = c_.out_dir();
        fs::path dep_path = private_dep_info_.empty() ? dir / c_.inv.dep_info_name() : private_dep_info_;
        auto dep_text = util::read_file_bounded(dep_path, k_max_dep_info_bytes);
        if (!dep_text && result.exit_code != 0 && dep_text.error().kind == ErrorKind::not_found)
            return unlisted_source(result.exit_code);
        if (!dep_text) return std::unexpected(dep_text.error());
        auto dep = rustc::parse_dep_info(*dep_text);
        if (!dep) return std::unexpected(dep.error());

        auto set = input_set(*dep, start_ns);
        if (!set) return std::unexpected(set.error());
        // The one input K1 names by path only: a set without it would match
        // other code at that path.
        if (!lists_source(*set, source_in_set(c_.paths, c_.inv))) return unlisted_source(result.exit_code);
        if (auto l = add_link_inputs(c_, link_args_, start_ns, *set); !l) return std::unexpected(l.error());
        auto outputs = result.exit_code == 0 ? c_.inv.expected_outputs() : std::vector<std::string>{};

        // The outputs are stored first: the raw-path scan sees their bytes as the store
        // hashes them (one read of each), and what it finds goes into the input set.
        store::Entry entry;
        PathScan scan(c_);
        for (auto& name : outputs) {
            auto o = store_output(name, dir, *dep, scan);
            if (!o) return std::unexpected(o.error());
            entry.outputs.push_back(std::move(*o));
        }
        mark_path_specific(*set, scan.found);

        entry.crate = c_.package_name();
        entry.version = util::env("CARGO_PKG_VERSION").value_or("");
        entry.k1 = c_.k1;
        entry.k2 = key::result_key(c_.k1, *set);
        entry.created_ms = set->created_ms;
        entry.compile_ms = compile_us / 1000;
        entry.exit_code = result.exit_code;
        bool json = c_.inv.json_errors();
        if (!result.out.empty()) {
            auto d = c_.store->put_blob(c_.paths.normalize_output(result.out, json));
            if (!d) return std::unexpected(d.error());
            entry.stdout_blob = *d;
        }
        if (!result.err.empty()) {
            auto d = c_.store->put_blob(c_.paths.normalize_output(result.err, json));
            if (!d) return std::unexpected(d.error());
            entry.stderr_blob = *d;
        }
        if (auto w = c_.store->write_entry(entry); !w) return std::unexpected(w.error());
        if (auto m = c_.store->add_input_set(c_.k1, *set); !m) return std::unexpected(m.error());
        remember_stamps(*set, entry.k2);
        recorded_set_ = *set;
        return entry.total_size();
    }

    // Not recorded, silently (run-and-forget): the dep-info does not name the
    // source, as when rustc stops on a syntax error before writing it.
    Result<std::uint64_t> unlisted_source(int exit_code) const {
        if (exit_code != 0)
            return fail(ErrorKind::unsupported,
                        "compile failed (exit " + std::to_string(exit_code) + ") before writing dep-info, not cached");
        return fail(ErrorKind::unsupported, "the dep-info does not name the source file " + c_.inv.source);
    }

    // The input set the dep-info names, refused (unsupported) when an input
    // vanished or changed while rustc ran, or when a file K1 hashed (a native
    // archive, a linker script, an extern) is no longer the one the key saw:
    // rustc may have read other bytes than the key names.
    Result<key::InputSet> input_set(const rustc::DepInfo& dep, std::int64_t start_ns) {
        if (auto changed = key::changed_file_input(c_.k1_files))
            return fail(ErrorKind::unsupported,
                        "key input " + c_.paths.normalize(changed->string()) + " changed during the compile");
        key::InputSet set;
        set.created_ms = util::now_ns() / 1000000;
        for (auto& input : dep.inputs()) {
            // One stat per input: the stamp the digest was taken under is the one checked.
            auto d = c_.hashes->digest_stamped(c_.absolute(input));
            if (!d && d.error().kind == ErrorKind::not_found)
                return fail(ErrorKind::unsupported, "input " + input + " vanished during the compile");
            if (!d) return std::unexpected(d.error());
            // The ctime as well: `cp -p`, `touch -d` and `rsync -a` put the mtime
            // back after writing, but nobody can set the ctime back.
            if (d->stamp.mtime_ns >= start_ns || d->stamp.ctime_ns >= start_ns)
                return fail(ErrorKind::unsupported, "input " + input + " changed during the compile");
            set.files.push_back({c_.paths.normalize(input), d->digest});
        }
        std::sort(set.files.begin(), set.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
        set.env = dep.env_deps;
        std::sort(set.env.begin(), set.env.end());
        return set;
    }

    // The stamps of the set just recorded, so the next lookup checks each file
    // with a stat: only files this process hashed under their present, settled
    // stamp (one stat each; nothing is read again).
    void remember_stamps(const key::InputSet& set, const hash::Digest& k2) const {
        key::SetMemo memo(c_.store->seen_dir());
        std::vector<util::FileStamp> now(set.files.size());
        std::int64_t t = util::now_ns();
        bool any = false;
        for (std::size_t i = 0; i < set.files.size(); ++i) {
            auto st = util::stamp(c_.absolute(c_.paths.expand(set.files[i].path)));
            if (!st || !memo.settled(*st, t)) continue;
            if (auto* d = c_.hashes->known(*st); d && *d == set.files[i].digest) {
                now[i] = *st;
                any = true;
            }
        }
        if (any) memo.save(c_.k1, k2, now);
    }

    // The raw-path scan of one record: the roots found in the outputs so far.
    struct PathScan {
        explicit PathScan(const Context& c) : roots(c.remapped ? specific_roots(c.paths) : std::vector<key::Root>{}) {}
        std::vector<key::Root> roots; // what to look for: none without remapping
        std::vector<key::Root> found;
        void add(const std::vector<key::Root>& in_file) {
            for (auto& r : in_file)
                if (std::none_of(found.begin(), found.end(), [&](auto& f) { return f.name == r.name; }))
                    found.push_back(r);
        }
    };

    // Stores one output file (the dep-info with sentinel paths), scanning it for raw
    // roots in the same read.
    Result<store::OutputFile> store_output(const std::string& name, const fs::path& dir, const rustc::DepInfo& dep,
                                           PathScan& scan) {
        fs::path p = dir / name;
        auto st = util::stamp(p);
        if (!st) return fail(ErrorKind::unsupported, "expected output " + name + " was not written");
        store::OutputFile o;
        o.name = name;
        o.mode = st->mode & 0777;
        if (name == c_.inv.dep_info_name()) {
            rustc::DepInfo normalized = dep;
            normalized.map_paths([&](const std::string& s) { return c_.paths.normalize(s); });
            std::string text = rustc::write_dep_info(normalized);
            auto d = c_.store->put_blob(text);
            if (!d) return std::unexpected(d.error());
            o.blob = *d;
            o.size = text.size();
            o.dep_info = true;
            return o;
        }
        auto how = immutable_output(name) ? store::Placement::allow_link : store::Placement::copy_only;
        // Only roots not found yet in an earlier output are looked for.
        std::vector<key::Root> wanted;
        for (auto& r : scan.roots)
            if (std::none_of(scan.found.begin(), scan.found.end(), [&](auto& f) { return f.name == r.name; }))
                wanted.push_back(r);
        std::optional<RootScanner> scanner;
        if (!wanted.empty()) scanner.emplace(std::move(wanted));
        auto put = c_.store->put_blob_file(p, how, scanner ? &*scanner : nullptr);
        if (!put) return std::unexpected(put.error());
        if (scanner) scan.add(scanner->found());
        o.blob = put->digest;
        o.size = st->size;
        c_.hashes->remember(c_.store->blob_path(o.blob), o.blob);
        // A kept link is the output's own inode: the line above remembered it already.
        if (extern_like(name) && !put->linked) c_.hashes->remember(p, o.blob);
        return o;
    }

    // Raw paths in outputs: an output (dep-info aside) that holds a raw root
    // path of this checkout makes the entry path-specific, one marker per root
    // found (path_scan.hpp), so it is never served where that root differs.
    // `env!` values under a root are kept in sentinel form: the scan sees their
    // bytes if they reach an output. Without remapping K1 holds the raw roots
    // already: nothing is shared across paths and nothing needs scanning.
    // The roots come from the scan store_output ran on each output as it stored it.
    void mark_path_specific(key::InputSet& set, const std::vector<key::Root>& found) const {
        if (!c_.remapped) return;
        for (auto& [name, value] : set.env)
            if (value) value = c_.paths.normalize(*value);
        for (auto& r : found) set.env.emplace_back(path_marker(r.name), r.path);
        std::sort(set.env.begin(), set.env.end());
    }

    Context& c_;
    fs::path private_dep_info_; // set when the invocation did not ask for dep-info
    fs::path link_args_;        // where rustc prints the linker's command line, when it links
    bool uncached_ = false;     // kache's own files could not be created: compile, record nothing
    key::InputSet recorded_set_;
};

} // namespace

Result<int> compile_and_record(Context& c) { return Recorder(c).compile(); }

} // namespace kache::wrapper
