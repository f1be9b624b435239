#include <kache/size_cap.hpp>
#include <kache/store.hpp>
#include <kache/why.hpp>

#include "sharded.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <fstream>
#include <string_view>
#include <optional>
#include <set>
#include <sstream>
#include <string>

namespace kache::store {

namespace {
constexpr std::int64_t k_young_ns = 3600ll * 1000000000; // an hour
// A blob no entry names yet may belong to a recording still under way: it is spared this
// long in any case, and up to k_young_ns while some writer may still be active.
constexpr std::int64_t k_orphan_settle_ns = 10ll * 1000000000;

// A remote download stages its bytes beside the temp file it fills: ".kache-get.<temp name>.x".
constexpr std::string_view k_download_stage_prefix = ".kache-get.";

// The pid a temp name carries: ".tmp.<pid>.x", ".in.<pid>.x", "dep-<pid>-x", "link-<pid>-x",
// and a download's staging file beside a temp file (written by the same process).
std::optional<pid_t> pid_in_name(const std::string& name) {
    if (name.starts_with(k_download_stage_prefix)) return pid_in_name(name.substr(k_download_stage_prefix.size()));
    std::size_t start = std::string::npos;
    for (const char* prefix : {".tmp.", ".in.", "dep-", "link-"})
        if (name.starts_with(prefix)) start = std::char_traits<char>::length(prefix);
    if (start == std::string::npos) return std::nullopt;
    std::size_t end = start;
    while (end < name.size() && end - start < 10 && name[end] >= '0' && name[end] <= '9') ++end;
    if (end == start || end >= name.size() || (name[end] != '.' && name[end] != '-')) return std::nullopt;
    long v = std::stol(name.substr(start, end - start));
    if (v <= 0 || v > 0x3fffffff) return std::nullopt;
    return static_cast<pid_t>(v);
}

// When process pid started (ns since the epoch), or nullopt if no such process runs.
std::optional<std::int64_t> process_start_ns(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!in || !std::getline(in, line)) return std::nullopt;
    // Field 22 (starttime, clock ticks since boot) follows "(comm) ", comm may hold spaces.
    auto close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(close + 1));
    std::string field;
    unsigned long long ticks = 0;
    for (int i = 3; i <= 22 && rest >> field; ++i)
        if (i == 22) ticks = std::stoull(field);
    std::ifstream st("/proc/stat");
    long long boot = 0;
    for (std::string l; std::getline(st, l);)
        if (l.starts_with("btime ")) boot = std::stoll(l.substr(6));
    long hz = ::sysconf(_SC_CLK_TCK);
    if (boot <= 0 || hz <= 0) return std::int64_t{0}; // alive, start unknown: counts as old
    return (boot + static_cast<std::int64_t>(ticks / hz)) * 1000000000;
}

// True if a writer may still own this tmp/ file: it holds its flock (TempFile does), or the
// pid in its name runs and started before the file was last changed (a reused pid did not).
bool temp_in_use(const fs::path& p) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return false;
    if (S_ISREG(st.st_mode) && util::FileLock::held_elsewhere(p)) return true;
    auto pid = pid_in_name(p.filename().string());
    if (!pid) return true; // no owner to ask: only the age rule applies
    auto started = process_start_ns(*pid);
    if (!started) return false;
    // Start times have whole-second resolution: within that second, count it as the owner.
    std::int64_t changed = static_cast<std::int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return changed + 1000000000 >= *started;
}

// True while some writer may be between storing blobs and writing their entry: a key lock
// is held, or a temp file in tmp/ is still owned.
bool writer_active(const fs::path& locks, const fs::path& tmp) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(locks, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        if (util::FileLock::held_elsewhere(it->path())) return true;
    for (auto it = fs::directory_iterator(tmp, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        if (temp_in_use(it->path())) return true;
    return false;
}

std::int64_t mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
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

Result<GcReport> Store::gc(std::uint64_t max_bytes, std::int64_t max_age_ns) {
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
    detail::for_each_sharded(root_ / "entries", [&](const fs::directory_entry& f) {
        const fs::path& p = f.path();
        auto text = util::read_file_bounded(p, k_max_entry_bytes);
        Result<Entry> e = text ? parse_entry(*text) : Result<Entry>(std::unexpected(text.error()));
        if (e) items.push_back({mtime_ns(p), std::move(*e)});
        else if (is_corrupt(e.error()) && ::unlink(p.c_str()) == 0) ++report.corrupt_removed;
    });
    // A manifest that does not parse only costs a warning on every lookup: it goes.
    detail::for_each_sharded(root_ / "manifests", [&](const fs::directory_entry& f) {
        const fs::path& p = f.path();
        if (!parses_or_unknown(p, k_max_manifest_bytes, parse_manifest) && ::unlink(p.c_str()) == 0)
            ++report.corrupt_removed;
    });
    // A memo of input stamps (key::SetMemo) outlives nothing: it goes with its manifest.
    detail::for_each_sharded(seen_dir(), [&](const fs::directory_entry& f) {
        const fs::path& p = f.path();
        fs::path manifest = root_ / "manifests" / p.parent_path().filename() / p.filename();
        struct stat st {};
        if (::lstat(manifest.c_str(), &st) != 0 && errno == ENOENT) ::unlink(p.c_str());
    });
    std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.used < b.used; });

    // Blob sizes and reference counts.
    std::map<hash::Digest, std::uint64_t> blob_size;
    std::uint64_t total = 0;
    detail::for_each_sharded(root_ / "blobs", [&](const fs::directory_entry& f) {
        auto d = hash::Digest::from_hex(f.path().parent_path().filename().string() + f.path().filename().string());
        std::error_code ec;
        auto size = f.file_size(ec);
        if (d && !ec) {
            blob_size[*d] = size;
            total += size;
        }
    });
    std::map<hash::Digest, int> refs;
    for (auto& it : items)
        for (auto& d : it.entry.blobs()) ++refs[d];
    // Only referenced blobs count against the cap: the rest go below anyway.
    total = 0;
    for (auto& [d, n] : refs)
        if (auto size = blob_size.find(d); n > 0 && size != blob_size.end()) total += size->second;

    // Drop least-recently-used entries until the referenced blobs fit, and (with a
    // max age) every entry unused for longer.
    const std::int64_t expired_before = max_age_ns > 0 ? now - max_age_ns : 0;
    for (auto& it : items) {
        if (total <= max_bytes && it.used >= expired_before) break;
        if (keep.contains(it.entry.k2)) continue;
        if (!remove_entry(it.entry.k2)) continue;
        ++report.entries_removed;
        for (auto& d : it.entry.blobs()) {
            auto size = blob_size.find(d);
            if (--refs[d] == 0 && size != blob_size.end()) total -= size->second;
        }
    }
    // Remove unreferenced blobs, except young ones while a compile may have stored them and
    // not yet written the entry that names them.
    // A blob that lost its last reference above goes whatever its age; only one that no
    // entry ever named is spared while young. (Look up without inserting: an insert here
    // would make every blob look once-referenced and the young guard never fire.)
    bool writer_checked = false, writer = false;
    for (auto& [d, size] : blob_size) {
        auto ref = refs.find(d);
        bool never_referenced = ref == refs.end();
        if (!never_referenced && ref->second > 0) continue;
        fs::path p = blob_path(d);
        if (never_referenced) {
            std::int64_t age = now - mtime_ns(p);
            if (age < k_orphan_settle_ns) continue;
            if (age < k_young_ns) {
                if (!writer_checked) {
                    writer_checked = true;
                    writer = writer_active(root_ / "locks", tmp_dir());
                }
                if (writer) continue;
            }
        }
        if (::unlink(p.c_str()) == 0) {
            ++report.blobs_removed;
            report.bytes_freed += size;
        }
    }
    // Temp files no process owns any more go now; any other once stale.
    std::error_code ec;
    for (auto it = fs::directory_iterator(tmp_dir(), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        if (now - mtime_ns(it->path()) < k_young_ns && temp_in_use(it->path())) continue;
        std::error_code ec2;
        if (fs::remove_all(it->path(), ec2) > 0) ++report.temp_files_removed;
    }
    report.bytes_after = usage().blob_bytes;
    set_size_counter(*this, report.bytes_after); // the wrapper's cheap view of the size, made true again
    why::prune(*this);
    return report;
}

} // namespace kache::store
