// GC of a shared remote (kache/remote/remote_gc.hpp).
#include <kache/remote/access_log.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/remote_gc.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace kache::remote {

namespace {

inline constexpr std::int64_t k_seconds_per_day = 86400;

// K2 of "v1/packs/<crate>/<K2>.pack"; nullopt for anything else.
std::optional<hash::Digest> pack_k2(std::string_view key) {
    if (!key.starts_with(k_packs_root) || !key.ends_with(".pack")) return std::nullopt;
    key.remove_suffix(5);
    auto slash = key.rfind('/');
    if (slash == std::string_view::npos || slash < k_packs_root.size()) return std::nullopt;
    return hash::Digest::from_hex(key.substr(slash + 1));
}

struct PackInfo {
    std::string key;
    std::uint64_t size = 0;
    std::optional<std::int64_t> last_day;
    std::vector<std::string> manifests;
    std::uint64_t manifest_bytes = 0;
};

void newer(std::optional<std::int64_t>& day, std::int64_t d) {
    if (!day || *day < d) day = d;
}

// What one past day's access objects said, to write them again as one.
struct DayUses {
    std::vector<std::string> keys;
    std::set<hash::Digest> used;
};

// Reads the access objects within retention into each pack's last day; returns the
// keys of those past it (to remove). Bad objects are skipped with a warning.
std::vector<std::string> read_uses(RemoteBackend& backend, const std::vector<ObjectInfo>& objects,
                                   std::int64_t oldest_kept, const GcOptions& opt, GcReport& report,
                                   std::map<hash::Digest, std::int64_t>& last_use,
                                   std::map<std::int64_t, DayUses>& days) {
    std::vector<std::string> stale;
    std::uint64_t read_bytes = 0;
    for (auto& o : objects) {
        auto ak = parse_access_key(o.key);
        if (!ak) {
            report.warnings.push_back(o.key + ": not an access object's key; skipped");
            continue;
        }
        if (ak->day < oldest_kept) {
            stale.push_back(o.key);
            continue;
        }
        if (o.size > k_max_access_object_bytes || read_bytes + o.size > k_max_access_bytes_per_gc) {
            report.warnings.push_back(o.key + ": " + std::to_string(o.size) + " bytes is over the bound; skipped");
            continue;
        }
        read_bytes += o.size;
        auto used = read_access(backend, o.key, opt.tmp_dir);
        if (!used) {
            report.warnings.push_back(used.error().message + "; skipped");
            continue;
        }
        ++report.access_objects;
        for (auto& k2 : *used) {
            auto [it, fresh] = last_use.emplace(k2, ak->day);
            if (!fresh) it->second = std::max(it->second, ak->day);
        }
        auto& day = days[ak->day];
        day.keys.push_back(o.key);
        day.used.insert(used->begin(), used->end());
    }
    return stale;
}

// Rewrites each settled day's access objects (one per machine, and an ephemeral CI
// runner is a new machine every build) as one object, so that the next GC reads one
// object per past day. A day is settled once no daemon can still be writing it. The
// combined object is written before the ones it replaces are removed: a failure in
// between leaves the same uses twice, never none.
void compact_days(RemoteBackend& backend, std::map<std::int64_t, DayUses>& days, std::int64_t today,
                  const std::set<hash::Digest>& gone, const GcOptions& opt, GcReport& report) {
    const std::string compacted_id(k_machine_id_chars, '0');
    for (auto& [day, uses] : days) {
        if (day >= today - k_access_settle_days || uses.keys.size() < 2) continue;
        for (auto& k2 : gone) uses.used.erase(k2);
        if (uses.used.size() > k_max_access_entries) continue;
        const std::string key = access_key(day, compacted_id);
        auto tmp = util::TempFile::create(opt.tmp_dir);
        if (!tmp) {
            report.errors.push_back(key + ": " + tmp.error().message);
            return;
        }
        if (auto w = tmp->write(access_body(uses.used)); !w) {
            report.errors.push_back(key + ": " + w.error().message);
            return;
        }
        if (auto put = backend.put(key, tmp->path(), Overwrite::yes); !put) {
            report.errors.push_back(key + ": " + put.error().message);
            continue;
        }
        for (auto& k : uses.keys) {
            if (k == key) continue;
            if (auto r = backend.remove(k); !r) report.errors.push_back(k + ": " + r.error().message);
        }
        report.compacted_access += uses.keys.size();
    }
}

} // namespace

Result<GcReport> gc(RemoteBackend& backend, const GcOptions& opt) {
    // Manifests are listed before packs: a pusher uploads the pack first, so every
    // manifest in this listing had its pack on the remote before the pack listing ran,
    // and one whose pack is missing there is a true orphan.
    auto manifests = backend.list(std::string(k_manifests_root));
    if (!manifests) return std::unexpected(manifests.error());
    auto packs = backend.list(std::string(k_packs_root));
    if (!packs) return std::unexpected(packs.error());
    auto access = backend.list(std::string(k_access_root));
    if (!access) return std::unexpected(access.error());

    GcReport report;
    const std::int64_t today = day_number(opt.now);
    std::optional<std::int64_t> cutoff; // packs last used before this day go
    if (opt.max_age) cutoff = day_number(opt.now - *opt.max_age);
    // Access objects older than any age GC judges by tell it nothing.
    std::int64_t oldest_kept = cutoff ? std::min(*cutoff, today) : day_number(opt.now - k_access_retention);
    std::map<hash::Digest, std::int64_t> last_use;
    std::map<std::int64_t, DayUses> days;
    auto stale_access = read_uses(backend, *access, oldest_kept, opt, report, last_use, days);

    std::map<std::string, PackInfo> by_key;
    for (auto& p : *packs) {
        auto k2 = pack_k2(p.key);
        if (!k2) continue; // not ours: leave it alone
        PackInfo info{p.key, p.size, std::nullopt, {}, 0};
        if (p.modified > 0) newer(info.last_day, p.modified / k_seconds_per_day);
        if (auto u = last_use.find(*k2); u != last_use.end()) newer(info.last_day, u->second);
        by_key[p.key] = std::move(info);
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

    // Least recently used first; packs of unknown age before all others.
    std::vector<PackInfo*> order;
    for (auto& [_, info] : by_key) order.push_back(&info);
    std::stable_sort(order.begin(), order.end(), [](const PackInfo* a, const PackInfo* b) {
        return a->last_day.value_or(-1) < b->last_day.value_or(-1);
    });
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
    report.stale_access = stale_access.size();
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
    for (auto& v : report.victims) {
        // Manifests first: if one cannot be removed, the pack stays, so nothing dangles.
        if (!remove_all(v.manifests)) continue;
        if (auto r = backend.remove(v.pack_key); !r) {
            report.errors.push_back(v.pack_key + ": " + r.error().message);
            continue;
        }
        report.bytes_freed += v.bytes;
    }
    remove_all(stale_access);
    std::set<hash::Digest> gone;
    for (auto& v : report.victims)
        if (auto k2 = pack_k2(v.pack_key)) gone.insert(*k2);
    compact_days(backend, days, today, gone, opt, report);
    return report;
}

} // namespace kache::remote
