#include "remote_checks.hpp"

#include <kache/remote/transfer.hpp>

namespace kache::daemon {

using Clock = std::chrono::steady_clock;
using hash::Digest;

RemoteChecks::RemoteChecks(store::Store& store, remote::BackendMaker make_backend, Log& log, CheckSettings settings,
                           Answer answer)
    : store_(store), make_backend_(std::move(make_backend)), log_(log), settings_(settings), answer_(std::move(answer)) {}

RemoteChecks::~RemoteChecks() { stop(); }

void RemoteChecks::start() {
    for (int i = 0; i < settings_.workers; ++i) workers_.emplace_back([this] { worker(); });
}

std::optional<ipc::CheckReply> RemoteChecks::remote_down_reply() const {
    if (Clock::now() >= remote_down_until_) return std::nullopt;
    ipc::CheckReply r;
    r.ok = false;
    r.error = "the remote is unavailable (" + remote_down_why_ + "); not asked again for a few seconds";
    return r;
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
    std::int64_t found = 0;
    std::string err = backend_error;
    bool remote_down = false;
    if (be) {
        auto objects = be->list(remote::invocation_manifest_prefix(job.crate, job.version, job.k1));
        if (!objects) {
            err = objects.error().message;
            remote_down = objects.error().retryable();
        } else
            for (auto& o : *objects) {
                // The origin is marked before the entry lands: a wrapper may find
                // it the moment it is committed, and must count it as remote.
                auto pulled = remote::pull_entry(store_, *be, o.key, "remote", settings_.pack_limits);
                if (!pulled) {
                    err = pulled.error().message;
                    continue;
                }
                ++found;
            }
    }
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
                answer_(to, *down);
                continue;
            }
        }
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
            to = std::move(waiting_[job.k1]);
            waiting_.erase(job.k1);
            if (reply.found == 0 && reply.error.empty()) negative_[job.k1] = Clock::now();
            if (remote_down) {
                remote_down_until_ = Clock::now() + settings_.remote_down_backoff;
                remote_down_why_ = reply.error;
            }
        }
        answer_(to, reply);
    }
}

void RemoteChecks::stop() {
    {
        std::lock_guard g(mu_);
        exit_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
}

} // namespace kache::daemon
