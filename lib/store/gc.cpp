#include <kache/store.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <set>

namespace kache::store {

namespace {
constexpr std::int64_t k_young_ns = 3600ll * 1000000000; // an hour

std::int64_t mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

// Calls fn(path) for every file two levels below dir (the sharded layout).
template <class Fn>
void each_sharded_file(const fs::path& dir, Fn fn) {
    std::error_code ec;
    for (auto sh = fs::directory_iterator(dir, ec); !ec && sh != fs::directory_iterator(); sh.increment(ec)) {
        std::error_code ec2;
        if (!sh->is_directory(ec2)) continue;
        for (auto f = fs::directory_iterator(sh->path(), ec2); !ec2 && f != fs::directory_iterator(); f.increment(ec2))
            fn(f->path());
    }
}

// Reads a store text file; true if it parses or cannot be judged (unreadable, gone).
// Files are written whole by rename, so one that does not parse never will.
// Oversized (invalid_input from the bounded read) counts as corrupt.
bool is_corrupt(const Error& e) { return e.kind == ErrorKind::corrupt || e.kind == ErrorKind::invalid_input; }

template <class Parse>
bool parses_or_unknown(const fs::path& p, std::uint64_t max_bytes, Parse parse) {
    auto text = util::read_file_bounded(p, max_bytes);
    if (!text) return !is_corrupt(text.error());
    auto r = parse(*text);
    return r || !is_corrupt(r.error());
}
} // namespace

void Store::touch_entry(const hash::Digest& k2) const { (void)util::touch_now(entry_path(k2)); }

Result<GcReport> Store::gc(std::uint64_t max_bytes) {
    GcReport report;
    std::int64_t now = util::now_ns();
    // Never evict an entry the daemon still has to upload.
    auto keep_list = upload_intents();
    std::set<hash::Digest> keep(keep_list.begin(), keep_list.end());

    // Entries by last use, oldest first.
    struct Item {
        std::int64_t used;
        Entry entry;
    };
    std::vector<Item> items;
    each_sharded_file(root_ / "entries", [&](const fs::path& p) {
        auto text = util::read_file_bounded(p, k_max_entry_bytes);
        Result<Entry> e = text ? parse_entry(*text) : Result<Entry>(std::unexpected(text.error()));
        if (e) items.push_back({mtime_ns(p), std::move(*e)});
        else if (is_corrupt(e.error()) && ::unlink(p.c_str()) == 0) ++report.corrupt_removed;
    });
    // A manifest that does not parse only costs a warning on every lookup: it goes.
    each_sharded_file(root_ / "manifests", [&](const fs::path& p) {
        if (!parses_or_unknown(p, k_max_manifest_bytes, parse_manifest) && ::unlink(p.c_str()) == 0)
            ++report.corrupt_removed;
    });
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.used < b.used; });

    // Blob sizes and reference counts.
    std::map<hash::Digest, std::uint64_t> blob_size;
    std::uint64_t total = 0;
    {
        std::error_code ec;
        for (auto sh = fs::directory_iterator(root_ / "blobs", ec); !ec && sh != fs::directory_iterator(); sh.increment(ec)) {
            std::error_code ec2;
            for (auto f = fs::directory_iterator(sh->path(), ec2); !ec2 && f != fs::directory_iterator(); f.increment(ec2)) {
                auto d = hash::Digest::from_hex(sh->path().filename().string() + f->path().filename().string());
                std::error_code ec3;
                auto size = f->file_size(ec3);
                if (d && !ec3) {
                    blob_size[*d] = size;
                    total += size;
                }
            }
        }
    }
    std::map<hash::Digest, int> refs;
    auto each_blob = [](const Entry& e, auto fn) {
        for (auto& o : e.outputs) fn(o.blob);
        if (e.stdout_blob) fn(*e.stdout_blob);
        if (e.stderr_blob) fn(*e.stderr_blob);
    };
    for (auto& it : items) each_blob(it.entry, [&](const hash::Digest& d) { ++refs[d]; });
    // Only referenced blobs count against the cap: the rest go below anyway.
    total = 0;
    for (auto& [d, n] : refs)
        if (auto size = blob_size.find(d); n > 0 && size != blob_size.end()) total += size->second;

    // Drop least-recently-used entries until the referenced blobs fit.
    for (auto& it : items) {
        if (total <= max_bytes) break;
        if (keep.contains(it.entry.k2)) continue;
        if (!remove_entry(it.entry.k2)) continue;
        ++report.entries_removed;
        each_blob(it.entry, [&](const hash::Digest& d) {
            auto size = blob_size.find(d);
            if (--refs[d] == 0 && size != blob_size.end()) total -= size->second;
        });
    }
    // Remove unreferenced blobs, except very young ones: a compile may have
    // stored them and not yet written the entry that names them.
    // A blob that lost its last reference above goes whatever its age; only one that no
    // entry ever named is spared while young. (Look up without inserting: an insert here
    // would make every blob look once-referenced and the young guard never fire.)
    for (auto& [d, size] : blob_size) {
        auto ref = refs.find(d);
        bool never_referenced = ref == refs.end();
        if (!never_referenced && ref->second > 0) continue;
        fs::path p = blob_path(d);
        if (never_referenced && now - mtime_ns(p) < k_young_ns) continue;
        if (::unlink(p.c_str()) == 0) {
            ++report.blobs_removed;
            report.bytes_freed += size;
        }
    }
    // Stale temp files.
    std::error_code ec;
    for (auto it = fs::directory_iterator(tmp_dir(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        if (now - mtime_ns(it->path()) < k_young_ns) continue;
        std::error_code ec2;
        if (fs::remove_all(it->path(), ec2) > 0) ++report.temp_files_removed;
    }
    report.bytes_after = usage().blob_bytes;
    return report;
}

} // namespace kache::store
