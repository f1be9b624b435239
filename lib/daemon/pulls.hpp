// One download per remote entry at a time, shared by remote checks and prefetch:
// a check for an entry that prefetch is already pulling waits for that pull
// instead of downloading the same pack again (and the other way round).
#pragma once

#include <kache/error.hpp>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace kache::daemon {

class SharedPulls {
public:
    using PullFn = std::function<Result<std::uint64_t>()>;

    // Runs pull for key (a manifest object's key) unless a pull of key is in flight;
    // then waits for that one and returns its outcome, with 0 bytes (this caller
    // downloaded nothing). Returns pull's own result otherwise.
    Result<std::uint64_t> pull(const std::string& key, const PullFn& pull);

    // Called with the key after each pull that succeeds (once per download, not per
    // waiter); set before any pull runs. Must not block: it runs on the pull's thread.
    void on_pulled(std::function<void(const std::string& key)> fn) { on_pulled_ = std::move(fn); }

    // Pulls running now (for tests and status).
    std::size_t in_flight() const;

private:
    struct Flight {
        bool done = false;
        std::optional<Error> error;
    };
    mutable std::mutex mu_;
    std::condition_variable cv_;
    std::map<std::string, std::shared_ptr<Flight>> flights_;
    std::function<void(const std::string&)> on_pulled_;
};

} // namespace kache::daemon
