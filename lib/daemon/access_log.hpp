// Which packs this machine pulled, written to the remote in batches for
// `kache remote gc` (kache/remote/access_log.hpp). Pulls record into memory only
// (no request on the path a wrapper waits on); a thread of its own writes the
// day's access object at most every k_access_flush_interval, and once more when
// the daemon stops, so the daemon's event loop never waits on the remote.
#pragma once

#include "log.hpp"

#include <kache/remote/access_log.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace kache::daemon {

class AccessLog {
public:
    // writable: false for a read-only remote (uses are then not recorded).
    AccessLog(store::Store& store, remote::BackendMaker make_backend, Log& log, bool writable,
              std::chrono::milliseconds interval = remote::k_access_flush_interval);
    ~AccessLog(); // stops and joins (without a last flush: call finish first)
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    // A pull of this manifest object's entry succeeded. No I/O.
    void record(const std::string& manifest_key);

    void start();
    // The last flush, at shutdown before transfers are cancelled; waits at most wait
    // (a stalled remote cannot hold up `kache daemon stop`), then the thread ends.
    void finish(std::chrono::milliseconds wait);

private:
    void run();
    void flush();

    store::Store& store_;
    remote::BackendMaker make_backend_;
    Log& log_;
    bool writable_;
    std::chrono::milliseconds interval_;
    remote::AccessRecorder recorder_;
    std::string machine_; // read or created at the first flush

    std::mutex mu_;
    std::condition_variable cv_;
    bool finishing_ = false, finished_ = false;
    std::thread thread_;
};

} // namespace kache::daemon
