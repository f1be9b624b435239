#include "prefetch.hpp"

#include "cargo_metadata.hpp"

#include <kache/remote/layout.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/util/fs.hpp>

#include <map>
#include <vector>

namespace kache::daemon {

using Clock = std::chrono::steady_clock;
using hash::Digest;

Prefetcher::Prefetcher(store::Store& store, remote::BackendMaker make_backend, Log& log, PrefetchSettings settings,
                       SharedPulls* pulls)
    : store_(store), make_backend_(std::move(make_backend)), log_(log), settings_(settings), pulls_(pulls) {}

Prefetcher::~Prefetcher() { stop(); }

std::vector<remote::ObjectInfo> newest_per_invocation(std::vector<remote::ObjectInfo> objects) {
    std::map<Digest, remote::ObjectInfo> newest;
    for (auto& o : objects) {
        auto m = remote::parse_manifest_key(o.key);
        if (!m) continue;
        auto [it, fresh] = newest.try_emplace(m->k1, o);
        if (!fresh && o.modified >= it->second.modified) it->second = std::move(o);
    }
    std::vector<remote::ObjectInfo> out;
    out.reserve(newest.size());
    for (auto& [_, o] : newest) out.push_back(std::move(o));
    return out;
}

void Prefetcher::start() { worker_ = std::thread([this] { worker(); }); }

void Prefetcher::submit(std::string root) {
    std::lock_guard g(mu_);
    sessions_.push_back(std::move(root));
    cv_.notify_one();
}

void Prefetcher::stop() {
    {
        std::lock_guard g(mu_);
        exit_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
}

std::pair<std::size_t, std::uint64_t> Prefetcher::prefetch_package(remote::RemoteBackend& be, const std::string& name,
                                                                   const std::string& version) {
    std::size_t count = 0;
    std::uint64_t bytes = 0;
    auto objects = be.list(remote::version_manifest_prefix(name, version));
    if (!objects) {
        log_.error("prefetch list of " + name + ": " + objects.error().message);
        return {0, 0};
    }
    // One input set per invocation key, the newest: a workspace member's version prefix
    // holds a result for every edit ever pushed, and the latest is the one a build of
    // the current sources most likely needs (a remote check still finds the others).
    for (auto& o : newest_per_invocation(std::move(*objects))) {
        auto k2 = Digest::from_hex(o.key.substr(o.key.rfind('/') + 1));
        if (!k2 || store_.has_entry(*k2)) continue;
        // Marked before the entry lands, as for checks.
        auto pull = [&] { return remote::pull_entry(store_, be, o.key, "prefetched", settings_.pack_limits); };
        auto t = Clock::now();
        auto pulled = pulls_ ? pulls_->pull(o.key, pull) : pull();
        log_.debug("prefetch of " + o.key + ": " + std::to_string(pulled ? *pulled : 0) + " bytes in " +
                   std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count()) + " ms");
        if (!pulled) {
            log_.error("prefetch of " + o.key + ": " + pulled.error().message);
            continue;
        }
        if (*pulled == 0) continue; // a remote check pulled it: not ours to count
        ++count;
        ++prefetched_;
        bytes += *pulled;
    }
    return {count, bytes};
}

void Prefetcher::prefetch_session(const std::string& root) {
    auto t0 = Clock::now();
    auto order = dependency_order(root);
    if (!order) {
        log_.info("prefetch skipped for " + root + ": " + order.error().message);
        return;
    }
    log_.debug("prefetch: " + std::to_string(order->size()) + " packages in dependency order in " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) + " ms");
    // Several transfers at once, taking packages in dependency order, so the
    // first crates cargo compiles are the first to arrive.
    std::atomic<std::size_t> next{0}, count{0};
    std::atomic<std::uint64_t> bytes{0};
    auto work = [&] {
        auto b = make_backend_();
        if (!b) {
            log_.error("prefetch: " + b.error().message);
            return;
        }
        for (std::size_t i; (i = next++) < order->size();) {
            if (exit_ || count >= settings_.max_entries || bytes >= settings_.max_bytes ||
                Clock::now() - t0 > settings_.max_time)
                break;
            auto [n, size] = prefetch_package(**b, (*order)[i].name, (*order)[i].version);
            count += n;
            bytes += size;
        }
    };
    std::vector<std::thread> pool;
    for (int w = 0; w < std::max(1, settings_.workers); ++w) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    log_.info("prefetched " + std::to_string(count.load()) + " entries (" + util::human_bytes(bytes) + ") for " + root +
              " in " + std::to_string(ms) + " ms");
}

void Prefetcher::worker() {
    while (true) {
        std::string root;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return !sessions_.empty() || exit_; });
            if (sessions_.empty()) return;
            root = std::move(sessions_.front());
            sessions_.pop_front();
        }
        prefetch_session(root);
    }
}

} // namespace kache::daemon
