// The wrapper's lookup: K1's manifest walked newest first, and the restore of
// the matching entry into the out-dir.
#include "context.hpp"
#include "path_scan.hpp"

#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kache::wrapper {

namespace {

// Does an input set's env-dep variable have the value it had when recorded?
bool env_matches(const std::string& name, const std::optional<std::string>& value, const key::PathMap& paths) {
    // A path-specific entry: served only where the root has the recorded path.
    if (is_path_marker(name)) return value && path_marker_matches(name, *value, paths);
    const char* now = std::getenv(name.c_str());
    if (value.has_value() != (now != nullptr)) return false;
    if (!now) return true;
    // Recorded in storage form: a path under a root as a sentinel, the sentinel
    // syntax in user text escaped (an output holding the raw path makes the
    // entry path-specific through a marker instead).
    return paths.normalize(now) == *value;
}

// The set's files hold its digests now. With a memo of the stamps they had
// when last verified, a file whose stamp is unchanged costs one stat; any other
// is hashed (through the stat-keyed cache), and the memo is rewritten when the
// set matched.
bool set_matches(const key::InputSet& set, hash::FileHashCache& hashes, const key::PathMap& paths,
                 const fs::path& cwd, const hash::Digest& k1, std::string_view source, const key::SetMemo* memo) {
    // Before any stat: string comparisons only.
    if (!lists_source(set, source)) return false;
    for (auto& [name, value] : set.env)
        if (!env_matches(name, value, paths)) return false;
    hash::Digest k2;
    std::vector<util::FileStamp> was, now;
    if (memo) {
        k2 = key::result_key(k1, set);
        was = memo->load(k1, k2, set.files.size());
        now.resize(set.files.size());
    }
    bool rehashed = false;
    std::int64_t t = util::now_ns();
    for (std::size_t i = 0; i < set.files.size(); ++i) {
        auto& f = set.files[i];
        std::string p = paths.expand(f.path);
        fs::path abs = !p.empty() && p[0] == '/' ? fs::path(p) : cwd / p;
        if (f.digest == key::k_absent_input) {
            // A place the linker found no library: still none (the memo keeps no stamp).
            if (util::regular_file_at(abs)) return false;
            continue;
        }
        if (!was.empty() && was[i].inode != 0) {
            auto st = util::stamp(abs);
            if (!st) return false;
            if (key::SetMemo::same(was[i], *st)) {
                now[i] = was[i];
                continue;
            }
        }
        auto d = hashes.digest_stamped(abs);
        if (!d || d->digest != f.digest) return false;
        if (memo) {
            rehashed = true;
            if (memo->settled(d->stamp, t)) now[i] = d->stamp;
        }
    }
    if (memo && rehashed) memo->save(k1, k2, now);
    return true;
}

Result<void> write_plain(const fs::path& dest, std::string_view text, std::uint32_t mode) {
    ::unlink(dest.c_str());
    int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return fail(ErrorKind::io, "cannot create " + dest.string() + ": " + std::strerror(errno));
    util::UniqueFd owner(fd);
    if (!util::write_all(fd, text))
        return fail(ErrorKind::io, "cannot write " + dest.string() + ": " + std::strerror(errno));
    return ok();
}

Result<std::string> blob_text(const store::Store& store, const std::optional<hash::Digest>& blob) {
    if (!blob) return std::string();
    return store.read_blob(*blob);
}

// Places one recorded output at dest.
Result<void> restore_output(Context& c, const store::OutputFile& o, const fs::path& dest) {
    if (o.dep_info) {
        auto text = c.store->read_blob(o.blob, k_max_dep_info_bytes);
        if (!text) return std::unexpected(text.error());
        auto dep = rustc::parse_dep_info(*text);
        if (!dep) return fail(ErrorKind::corrupt, "stored dep-info: " + dep.error().message);
        dep->map_paths([&](const std::string& p) { return c.paths.expand(p); });
        // Written in place: cargo reads it only after this process exits.
        return write_plain(dest, rustc::write_dep_info(*dep), o.mode);
    }
    fs::path blob = c.store->blob_path(o.blob);
    if (c.cfg.verify_blobs) {
        // Through the stat-keyed cache: a blob whose stamp is unchanged since
        // kache last saw it hashed right is not read again; any write to it
        // (or to a hardlinked output) changes the stamp and forces a rehash.
        auto d = c.hashes->digest(blob, /*ignore_ctime=*/true);
        if (!d) return std::unexpected(d.error());
        if (*d != o.blob) {
            ::unlink(blob.c_str());
            return fail(ErrorKind::corrupt, "blob " + o.blob.hex() + " is corrupt (removed)");
        }
    }
    auto how = immutable_output(o.name) ? store::Placement::allow_link : store::Placement::copy_only;
    auto placed = c.store->restore_file(o.blob, dest, o.mode, how);
    if (!placed) return std::unexpected(placed.error());
    // A link and its fresh mtime changed the stamp of the inode the blob and
    // the output share: record it once. A copy is a new inode: record it
    // when later compiles will hash it as an --extern.
    if (std::string_view(*placed) == "link" || extern_like(o.name)) c.hashes->remember(dest, o.blob);
    return ok();
}

Result<void> restore(Context& c, const store::Entry& e) {
    // The entry must describe exactly the outputs this invocation writes.
    auto expected = e.exit_code == 0 ? c.inv.expected_outputs() : std::vector<std::string>{};
    std::vector<std::string> have;
    for (auto& o : e.outputs) have.push_back(o.name);
    std::sort(have.begin(), have.end());
    if (have != expected) return fail(ErrorKind::corrupt, "the entry's outputs do not match the invocation");

    fs::path dir = c.out_dir();
    if (auto made = util::make_dirs(dir); !made) return made;
    auto out_text = blob_text(*c.store, e.stdout_blob);
    if (!out_text) return std::unexpected(out_text.error());
    auto err_text = blob_text(*c.store, e.stderr_blob);
    if (!err_text) return std::unexpected(err_text.error());
    for (auto& o : e.outputs)
        if (auto r = restore_output(c, o, dir / o.name); !r) return r;
    bool json = c.inv.json_errors();
    if (!out_text->empty()) util::write_all(1, json ? c.paths.expand_json(*out_text) : c.paths.expand(*out_text));
    if (!err_text->empty()) util::write_all(2, json ? c.paths.expand_json(*err_text) : c.paths.expand(*err_text));
    return ok();
}

// After a corrupt restore: every bad blob of the entry goes, and the entry, so
// the recompile stores them all again.
void drop_corrupt(store::Store& store, const store::Entry& e) {
    for (auto& o : e.outputs) {
        fs::path blob = store.blob_path(o.blob);
        if (auto d = hash::of_file(blob); d && *d != o.blob) ::unlink(blob.c_str());
    }
    (void)store.remove_entry(e.k2);
}

} // namespace

std::string source_in_set(const key::PathMap& paths, const rustc::Invocation& inv) {
    return paths.normalize(inv.source);
}

bool lists_source(const key::InputSet& set, std::string_view source) {
    if (source.empty()) return false;
    return std::any_of(set.files.begin(), set.files.end(), [&](const key::InputFile& f) { return f.path == source; });
}

std::optional<store::Entry> find_entry(const store::Store& store, hash::FileHashCache& hashes,
                                       const key::PathMap& paths, const fs::path& cwd, const hash::Digest& k1,
                                       std::string_view source, std::string* why, const key::SetMemo* memo) {
    auto manifest = store.read_manifest(k1);
    if (!manifest) {
        bool corrupt = manifest.error().kind == ErrorKind::corrupt;
        if (corrupt) warn(manifest.error().message + " (ignored)");
        if (why) *why = corrupt ? events::k_miss_manifest_corrupt : events::k_miss_new;
        return std::nullopt;
    }
    if (why) *why = events::k_miss_inputs_changed;
    for (auto& set : manifest->sets) { // newest first
        if (!set_matches(set, hashes, paths, cwd, k1, source, memo)) continue;
        auto entry = store.read_entry(key::result_key(k1, set));
        if (entry) return std::move(*entry);
        if (entry.error().kind == ErrorKind::corrupt) warn(entry.error().message + " (ignored)");
        if (why) *why = events::k_miss_entry_unreadable;
    }
    return std::nullopt;
}

std::optional<int> try_hit(Context& c) {
    key::SetMemo memo(c.store->seen_dir());
    auto entry = find_entry(*c.store, *c.hashes, c.paths, c.cwd, c.k1, source_in_set(c.paths, c.inv), &c.miss_reason,
                            &memo);
    if (!entry) return std::nullopt;
    if (auto restored = restore(c, *entry); !restored) {
        warn("cannot restore " + c.crate + " from the cache (" + restored.error().message + "); compiling");
        c.miss_reason = events::k_miss_restore_failed;
        if (restored.error().kind == ErrorKind::corrupt) drop_corrupt(*c.store, *entry);
        return std::nullopt;
    }
    std::int64_t us = c.elapsed_us();
    events::Event ev = c.event("hit");
    std::string origin = c.store->take_origin(entry->k2);
    ev.source = origin.empty() ? "local" : origin;
    c.store->touch_entry(entry->k2);
    ev.wrapper_us = us;
    ev.saved_ms = entry->compile_ms;
    ev.bytes = entry->total_size();
    ev.key = entry->k2.hex();
    events::append(c.store->events_dir(), ev);
    if (c.cfg.progress) {
        char line[512];
        std::snprintf(line, sizeof line, "[kache] %s: hit (%lld ms, %s)\n", c.crate.c_str(),
                      static_cast<long long>(us / 1000), util::human_bytes(ev.bytes).c_str());
        util::write_all(2, line);
    }
    return entry->exit_code;
}

} // namespace kache::wrapper
