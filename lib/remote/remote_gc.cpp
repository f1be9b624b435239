// Access markers and GC of a shared remote (kache/remote/remote_gc.hpp).
#include <kache/remote/layout.hpp>
#include <kache/remote/remote_gc.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

namespace kache::remote {

namespace {

inline constexpr std::int64_t k_seconds_per_day = 86400;
// Where a store remembers the last day it marked each pack (one tiny file per K2).
inline constexpr std::string_view k_local_marks_dir = "remote-access";
// A day file holds a few digits; anything longer is not ours.
inline constexpr std::uint64_t k_max_mark_bytes = 32;

std::optional<std::int64_t> parse_day(std::string_view s) {
    std::int64_t d = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
    if (ec != std::errc() || p != s.data() + s.size() || d < 0) return std::nullopt;
    return d;
}

// K2 of "v1/packs/<crate>/<K2>.pack"; nullopt for anything else.
std::optional<hash::Digest> pack_k2(std::string_view key) {
    if (!key.starts_with(k_packs_root) || !key.ends_with(".pack")) return std::nullopt;
    key.remove_suffix(5);
    auto slash = key.rfind('/');
    if (slash == std::string_view::npos || slash < k_packs_root.size()) return std::nullopt;
    return hash::Digest::from_hex(key.substr(slash + 1));
}

struct Marker {
    hash::Digest k2;
    std::int64_t day = 0;
};

// "v1/access/<K2>/<day>"
std::optional<Marker> parse_marker(std::string_view key) {
    if (!key.starts_with(k_access_root)) return std::nullopt;
    key.remove_prefix(k_access_root.size());
    auto slash = key.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto k2 = hash::Digest::from_hex(key.substr(0, slash));
    auto day = parse_day(key.substr(slash + 1));
    if (!k2 || !day) return std::nullopt;
    return Marker{*k2, *day};
}

struct PackInfo {
    std::string key;
    std::uint64_t size = 0;
    std::optional<std::int64_t> last_day;
    std::vector<std::string> manifests;
    std::uint64_t manifest_bytes = 0;
    std::vector<std::string> markers;
};

} // namespace

std::int64_t day_number(std::chrono::system_clock::time_point t) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    return s < 0 ? 0 : s / k_seconds_per_day;
}

std::string access_marker_key(const hash::Digest& k2, std::int64_t day) {
    return std::string(k_access_root) + k2.hex() + "/" + std::to_string(day);
}

void record_access(const store::Store& store, RemoteBackend& backend, const hash::Digest& k2,
                   std::chrono::system_clock::time_point now) {
    std::int64_t today = day_number(now);
    auto dir = store.root() / k_local_marks_dir;
    auto mark = dir / k2.hex();
    if (auto text = util::read_file_bounded(mark, k_max_mark_bytes); text && parse_day(*text) == today) return;
    auto body = util::TempFile::create(store.tmp_dir());
    if (!body || !body->write(std::to_string(today))) return;
    auto r = backend.put(access_marker_key(k2, today), body->path(), Overwrite::no);
    if (!r && r.error().kind != ErrorKind::conflict) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (!ec) (void)util::write_file_atomic(mark, std::to_string(today), store.tmp_dir());
}

Result<GcReport> gc(RemoteBackend& backend, const GcOptions& opt) {
    // Manifests are listed before packs: a pusher uploads the pack first, so every
    // manifest in this listing had its pack on the remote before the pack listing ran,
    // and one whose pack is missing there is a true orphan.
    auto manifests = backend.list(std::string(k_manifests_root));
    if (!manifests) return std::unexpected(manifests.error());
    auto packs = backend.list(std::string(k_packs_root));
    if (!packs) return std::unexpected(packs.error());
    auto markers = backend.list(std::string(k_access_root));
    if (!markers) return std::unexpected(markers.error());

    GcReport report;
    std::map<std::string, PackInfo> by_key;
    std::map<hash::Digest, std::string> key_of;
    for (auto& p : *packs) {
        auto k2 = pack_k2(p.key);
        if (!k2) continue; // not ours: leave it alone
        by_key[p.key] = PackInfo{p.key, p.size, std::nullopt, {}, 0, {}};
        key_of[*k2] = p.key;
        report.bytes_before += p.size;
    }
    report.packs = by_key.size();
    std::vector<std::string> orphans;
    for (auto& m : *manifests) {
        auto name = parse_manifest_key(m.key);
        if (!name) continue;
        auto it = by_key.find(pack_key(*name));
        if (it == by_key.end()) {
            orphans.push_back(m.key);
            continue;
        }
        it->second.manifests.push_back(m.key);
        it->second.manifest_bytes += m.size;
        report.bytes_before += m.size;
    }
    std::vector<std::string> stale_markers;
    for (auto& o : *markers) {
        auto mk = parse_marker(o.key);
        if (!mk) continue;
        auto k = key_of.find(mk->k2);
        if (k == key_of.end()) {
            stale_markers.push_back(o.key);
            continue;
        }
        auto& info = by_key[k->second];
        info.markers.push_back(o.key);
        if (!info.last_day || *info.last_day < mk->day) info.last_day = mk->day;
    }

    // Least recently used first; never-marked packs before all others.
    std::vector<PackInfo*> order;
    for (auto& [_, info] : by_key) order.push_back(&info);
    std::stable_sort(order.begin(), order.end(), [](const PackInfo* a, const PackInfo* b) {
        return a->last_day.value_or(-1) < b->last_day.value_or(-1);
    });
    std::optional<std::int64_t> cutoff;
    if (opt.max_age) cutoff = day_number(opt.now - *opt.max_age);
    std::uint64_t remaining = report.bytes_before;
    for (auto* info : order) {
        bool too_old = cutoff && info->last_day.value_or(-1) < *cutoff;
        bool too_big = opt.max_size && remaining > *opt.max_size;
        if (!too_old && !too_big) continue;
        std::uint64_t bytes = info->size + info->manifest_bytes;
        remaining -= bytes;
        report.victims.push_back(GcVictim{info->key, bytes, info->last_day, info->manifests});
    }

    report.orphan_manifests = orphans.size();
    if (opt.dry_run) {
        for (auto& v : report.victims) report.bytes_freed += v.bytes;
        return report;
    }
    auto remove_all = [&](const std::vector<std::string>& keys) {
        bool ok_all = true;
        for (auto& k : keys)
            if (auto r = backend.remove(k); !r) {
                report.errors.push_back(k + ": " + r.error().message);
                ok_all = false;
            }
        return ok_all;
    };
    remove_all(orphans);
    remove_all(stale_markers);
    for (auto& v : report.victims) {
        // Manifests first: if one cannot be removed, the pack stays, so nothing dangles.
        if (!remove_all(v.manifests)) continue;
        if (auto r = backend.remove(v.pack_key); !r) {
            report.errors.push_back(v.pack_key + ": " + r.error().message);
            continue;
        }
        report.bytes_freed += v.bytes;
        remove_all(by_key[v.pack_key].markers);
    }
    // Older markers of the packs that stay only lengthen future listings.
    std::set<std::string> victim;
    for (auto& v : report.victims) victim.insert(v.pack_key);
    for (auto& [key, info] : by_key) {
        if (info.markers.size() < 2 || victim.contains(key)) continue;
        std::vector<std::string> old;
        for (auto& m : info.markers)
            if (auto mk = parse_marker(m); mk && mk->day != info.last_day) old.push_back(m);
        remove_all(old);
    }
    return report;
}

} // namespace kache::remote
