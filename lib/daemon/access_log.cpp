// The daemon's batched access log (access_log.hpp).
#include "access_log.hpp"

#include <filesystem>

namespace kache::daemon {

namespace {

// Per-pack marker files an earlier version kept in the store; nothing reads them now.
inline constexpr std::string_view k_old_marks_dir = "remote-access";

} // namespace

AccessLog::AccessLog(store::Store& store, remote::BackendMaker make_backend, Log& log, bool writable,
                     std::chrono::milliseconds interval)
    : store_(store), make_backend_(std::move(make_backend)), log_(log), writable_(writable), interval_(interval) {}

AccessLog::~AccessLog() {
    {
        std::lock_guard g(mu_);
        finishing_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void AccessLog::record(const std::string& manifest_key) {
    if (writable_) recorder_.record_manifest_key(manifest_key);
}

void AccessLog::start() {
    if (!writable_) return;
    std::error_code ec;
    std::filesystem::remove_all(store_.root() / k_old_marks_dir, ec);
    thread_ = std::thread([this] { run(); });
}

void AccessLog::finish(std::chrono::milliseconds wait) {
    std::unique_lock lk(mu_);
    finishing_ = true;
    cv_.notify_all();
    if (!thread_.joinable()) return;
    if (!cv_.wait_for(lk, wait, [&] { return finished_; }))
        log_.warn("access log: the last flush did not finish in time; today's uses may be written late or not at all");
}

void AccessLog::run() {
    std::unique_lock lk(mu_);
    while (true) {
        cv_.wait_for(lk, interval_, [&] { return finishing_; });
        bool last = finishing_; // uses recorded until now are in this flush
        lk.unlock();
        flush();
        lk.lock();
        if (last) break;
    }
    finished_ = true;
    cv_.notify_all();
}

void AccessLog::flush() {
    if (!recorder_.dirty()) return;
    if (machine_.empty()) {
        auto id = remote::machine_id(store_);
        if (!id) {
            log_.error("access log: " + id.error().message);
            return;
        }
        machine_ = *id;
    }
    auto backend = make_backend_();
    if (!backend) {
        log_.error("access log: " + backend.error().message);
        return;
    }
    auto n = recorder_.flush(**backend, machine_, store_.tmp_dir());
    if (!n) log_.error("access log: " + n.error().message + " (kept for the next flush)");
    else if (*n) log_.info("access log: wrote " + std::to_string(*n) + " access objects");
}

} // namespace kache::daemon
