// `kache sync` (kache/remote/sync.hpp): lists both sides and moves each missing entry
// with push_entry / pull_entry (kache/remote/transfer.hpp).
#include <kache/remote/layout.hpp>
#include <kache/remote/sync.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

namespace kache::remote {

namespace fs = std::filesystem;

namespace {

// Runs fn(i) for i in [0, n) on `jobs` threads.
void parallel(std::size_t n, int jobs, const std::function<void(std::size_t, int)>& fn) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    int workers = std::max(1, std::min<int>(jobs, static_cast<int>(n)));
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([&, w] {
            for (std::size_t i; (i = next++) < n;) fn(i, w);
        });
    for (auto& t : threads) t.join();
}

} // namespace

Result<SyncReport> sync(store::Store& store, const BackendMaker& make_backend, const SyncOptions& opt) {
    auto t0 = std::chrono::steady_clock::now();
    SyncReport report;
    auto lister = make_backend();
    if (!lister) return std::unexpected(lister.error());
    std::mutex mu;

    // Each worker has its own backend.
    std::vector<std::unique_ptr<RemoteBackend>> backends(static_cast<size_t>(std::max(1, opt.jobs)));
    auto backend_for = [&](int w) -> Result<RemoteBackend*> {
        if (!backends[static_cast<size_t>(w)]) {
            auto b = make_backend();
            if (!b) return std::unexpected(b.error());
            backends[static_cast<size_t>(w)] = std::move(*b);
        }
        return backends[static_cast<size_t>(w)].get();
    };
    auto record_failure = [&](const std::string& what, const Error& e) {
        std::lock_guard g(mu);
        ++report.failed;
        report.errors.push_back(what + ": " + e.message);
    };

    if (opt.push) {
        auto remote_packs = (*lister)->list(std::string(k_packs_root));
        if (!remote_packs) return std::unexpected(remote_packs.error());
        std::set<std::string> have;
        for (auto& o : *remote_packs) have.insert(o.key);
        std::vector<store::Entry> todo;
        for (auto& e : store.list_entries()) {
            if (opt.crates && !opt.crates->contains(key_safe(e.crate))) continue;
            if (have.contains(pack_key(e))) ++report.up_to_date;
            else todo.push_back(std::move(e));
        }
        std::atomic<std::size_t> done{0};
        if (!opt.dry_run)
            parallel(todo.size(), opt.jobs, [&](std::size_t i, int w) {
                auto& e = todo[i];
                auto b = backend_for(w);
                auto r = b ? push_entry(store, **b, e) : Result<PushResult>(std::unexpected(b.error()));
                if (!r) record_failure(e.crate, r.error());
                else {
                    std::lock_guard g(mu);
                    if (r->outcome == PushOutcome::pushed) {
                        ++report.pushed;
                        report.bytes_up += r->bytes;
                    } else ++report.skipped; // the entry or its input set is gone
                }
                if (opt.progress) opt.progress(++done, todo.size());
            });
        else report.pushed = todo.size();
    }

    if (opt.pull) {
        std::vector<std::string> prefixes;
        if (!opt.crates) prefixes.emplace_back(k_manifests_root);
        else
            for (auto& c : *opt.crates) prefixes.push_back(crate_manifest_prefix(c));
        std::vector<std::string> todo;
        for (auto& p : prefixes) {
            auto objects = (*lister)->list(p);
            if (!objects) return std::unexpected(objects.error());
            for (auto& o : *objects) {
                auto name = parse_manifest_key(o.key);
                if (!name) continue;
                if (has_locally(store, *name)) {
                    ++report.up_to_date;
                    continue;
                }
                todo.push_back(o.key);
            }
        }
        std::atomic<std::size_t> done{0};
        if (!opt.dry_run)
            parallel(todo.size(), opt.jobs, [&](std::size_t i, int w) {
                auto b = backend_for(w);
                if (!b) record_failure(todo[i], b.error());
                else if (auto n = pull_entry(store, **b, todo[i], {}, opt.limits); !n) record_failure(todo[i], n.error());
                else {
                    if (opt.on_pulled) opt.on_pulled(todo[i]);
                    std::lock_guard g(mu);
                    ++report.pulled;
                    report.bytes_down += *n;
                }
                if (opt.progress) opt.progress(++done, todo.size());
            });
        else report.pulled = todo.size();
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<std::set<std::string>> packages_in_lockfile(const fs::path& lockfile) {
    auto text = util::read_file_bounded(lockfile, 64 << 20);
    if (!text) return std::unexpected(text.error());
    std::set<std::string> out;
    bool in_package = false;
    size_t pos = 0;
    while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos) end = text->size();
        std::string_view line(text->data() + pos, end - pos);
        pos = end + 1;
        if (line.starts_with("[[package]]")) in_package = true;
        else if (line.starts_with("[")) in_package = false;
        else if (in_package && line.starts_with("name = \"") && line.ends_with("\"")) {
            out.insert(key_safe(line.substr(8, line.size() - 9)));
        }
    }
    return out;
}

} // namespace kache::remote
