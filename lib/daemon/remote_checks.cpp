#include "remote_checks.hpp"

#include <kache/remote/layout.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/util/backoff.hpp>

#include <algorithm>

namespace kache::daemon {

using Clock = std::chrono::steady_clock;
using hash::Digest;

CheckCandidates check_candidates(const store::Store& store, std::vector<remote::ObjectInfo> objects) {
    CheckCandidates c;
    std::erase_if(objects, [&](const remote::ObjectInfo& o) {
        auto m = remote::parse_manifest_key(o.key);
        bool local = m && remote::has_locally(store, *m);
        c.local += local;
        return local;
    });
    // Newest first; the key breaks ties, so the choice does not depend on the listing's order.
    std::sort(objects.begin(), objects.end(), [](const remote::ObjectInfo& a, const remote::ObjectInfo& b) {
        return a.modified != b.modified ? a.modified > b.modified : a.key < b.key;
    });
    if (objects.size() > k_max_pulls_per_check) objects.resize(k_max_pulls_per_check);
    c.pull = std::move(objects);
    return c;
}

RemoteChecks::RemoteChecks(store::Store& store, remote::BackendMaker make_backend, Log& log, CheckSettings settings,
                           Answer answer, SharedPulls* pulls)
    : store_(store), make_backend_(std::move(make_backend)), log_(log), settings_(settings), answer_(std::move(answer)),
      pulls_(pulls) {}

RemoteChecks::~RemoteChecks() { stop(); }

void RemoteChecks::start() {
    for (int i = 0; i < settings_.workers; ++i) workers_.emplace_back([this] { worker(); });
    monitor_ = std::thread([this] { monitor(); });
}

bool RemoteChecks::available() const {
    std::lock_guard g(mu_);
    return !down_;
}

std::optional<ipc::CheckReply> RemoteChecks::remote_down_reply() const {
    if (!down_) return std::nullopt;
    ipc::CheckReply r;
    r.ok = false;
    r.error = "the remote is unavailable (" + remote_down_why_ + "); not asked again until it answers a probe";
    return r;
}

void RemoteChecks::mark_down(std::string why) {
    if (!down_) log_.warn("remote unavailable: " + why + "; checks answer at once until a probe succeeds");
    down_ = true;
    remote_down_why_ = std::move(why);
    // Release every wrapper still waiting: the running checks end when their requests
    // fail, the queued ones are answered by the workers without asking the remote.
    auto reply = *remote_down_reply();
    for (auto& [k1, to] : waiting_) answer_(to, reply);
    waiting_.clear();
    monitor_cv_.notify_all();
}

void RemoteChecks::monitor() {
    const util::Backoff backoff(k_probe_base_delay, std::max<std::chrono::milliseconds>(settings_.remote_down_backoff,
                                                                                        k_probe_base_delay),
                                util::Jitter::equal);
    std::unique_ptr<remote::RemoteBackend> be;
    unsigned probes = 0;
    std::unique_lock lk(mu_);
    while (!exit_) {
        if (!down_) {
            probes = 0;
            // Only checks started since the remote last came back: an older one may still
            // hang on a connection from the stall.
            auto oldest = running_.lower_bound(up_since_);
            if (settings_.deadline.count() <= 0 || oldest == running_.end()) {
                monitor_cv_.wait(lk);
                continue;
            }
            auto due = oldest->first + settings_.deadline;
            if (Clock::now() < due) {
                monitor_cv_.wait_until(lk, due);
                continue;
            }
            mark_down("a check got no answer within " + std::to_string(settings_.deadline.count()) + " ms");
            continue;
        }
        monitor_cv_.wait_for(lk, backoff.delay(++probes), [&] { return exit_; });
        if (exit_) break;
        lk.unlock();
        // A listing no check asks for: cheap, and it proves the remote answers again.
        std::string why;
        if (!be) {
            if (auto b = make_backend_()) be = std::move(*b);
            else why = b.error().message;
        }
        if (be)
            if (auto l = be->list(remote::invocation_manifest_prefix("kache-probe", "0", Digest{})); !l)
                why = l.error().message;
        lk.lock();
        if (why.empty() && down_) {
            down_ = false;
            up_since_ = Clock::now();
            log_.warn("remote available again (probe " + std::to_string(probes) + " answered)");
        } else if (!why.empty())
            log_.info("probe " + std::to_string(probes) + " of the unavailable remote: " + why);
    }
}

std::optional<ipc::CheckReply> RemoteChecks::check(ipc::ConnectionId from, const Digest& k1, std::string crate,
                                                   std::string version) {
    std::lock_guard g(mu_);
    if (auto down = remote_down_reply()) return down;
    if (auto it = negative_.find(k1); it != negative_.end()) {
        if (Clock::now() - it->second < settings_.negative_cache) {
            ipc::CheckReply r;
            r.cached = true;
            return r;
        }
        negative_.erase(it);
    }
    auto& w = waiting_[k1];
    w.push_back(from);
    if (w.size() == 1) { // one download per key however many wrappers ask
        jobs_.push_back({k1, std::move(crate), std::move(version)});
        cv_.notify_one();
    }
    return std::nullopt;
}

std::pair<ipc::CheckReply, bool> RemoteChecks::run(remote::RemoteBackend* be, const std::string& backend_error,
                                                   const Job& job) {
    auto t0 = Clock::now();
    std::int64_t found = 0;
    std::string err = backend_error;
    bool remote_down = false;
    if (be) {
        auto objects = be->list(remote::invocation_manifest_prefix(job.crate, job.version, job.k1));
        if (!objects) {
            err = objects.error().message;
            remote_down = objects.error().retryable();
        } else {
            auto candidates = check_candidates(store_, std::move(*objects));
            // Already here (a prefetch may have landed since the wrapper looked): the wrapper
            // looks again.
            found += static_cast<std::int64_t>(candidates.local);
            for (auto& o : candidates.pull) {
                // The origin is marked before the entry lands: a wrapper may find
                // it the moment it is committed, and must count it as remote.
                auto pull = [&] { return remote::pull_entry(store_, *be, o.key, "remote", settings_.pack_limits); };
                auto pulled = pulls_ ? pulls_->pull(o.key, pull) : pull();
                if (!pulled) {
                    err = pulled.error().message;
                    continue;
                }
                ++found;
            }
        }
    }
    log_.debug("remote check of " + job.crate + " " + job.k1.hex() + ": " + std::to_string(found) + " found in " +
               std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) + " ms");
    if (!err.empty()) log_.error("remote check of " + job.crate + " " + job.k1.hex() + ": " + err);
    ipc::CheckReply reply;
    reply.ok = err.empty() || found > 0;
    reply.found = found;
    reply.error = err;
    return {reply, remote_down};
}

void RemoteChecks::worker() {
    std::unique_ptr<remote::RemoteBackend> be;
    while (true) {
        Job job;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [&] { return !jobs_.empty() || exit_; });
            if (jobs_.empty()) return;
            job = jobs_.front();
            jobs_.pop_front();
            // Queued before the remote was found down: answer without waiting for it.
            if (auto down = remote_down_reply()) {
                auto to = std::move(waiting_[job.k1]);
                waiting_.erase(job.k1);
                lk.unlock();
                if (!to.empty()) answer_(to, *down);
                continue;
            }
        }
        auto started = Clock::now();
        auto running = [&] {
            std::lock_guard g(mu_);
            bool first = running_.empty();
            auto it = running_.emplace(started, job.k1);
            if (first) monitor_cv_.notify_all(); // the monitor times this check
            return it;
        }();
        std::string backend_error;
        if (!be) {
            if (auto b = make_backend_()) be = std::move(*b);
            else backend_error = b.error().message;
        }
        auto [reply, remote_down] = run(be.get(), backend_error, job);
        ++done_;
        if (reply.found) ++found_;
        std::vector<ipc::ConnectionId> to;
        {
            std::lock_guard g(mu_);
            running_.erase(running);
            if (auto it = waiting_.find(job.k1); it != waiting_.end()) { // not released by mark_down
                to = std::move(it->second);
                waiting_.erase(it);
            }
            if (reply.found == 0 && reply.error.empty()) negative_[job.k1] = Clock::now();
            // A failure that began before the remote last came back says nothing of it now.
            if (remote_down && started >= up_since_) mark_down(reply.error);
        }
        if (!to.empty()) answer_(to, reply);
    }
}

void RemoteChecks::stop() {
    {
        std::lock_guard g(mu_);
        exit_ = true;
    }
    cv_.notify_all();
    monitor_cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    if (monitor_.joinable()) monitor_.join();
}

} // namespace kache::daemon
