#include "pulls.hpp"

namespace kache::daemon {

Result<std::uint64_t> SharedPulls::pull(const std::string& key, const PullFn& fn) {
    std::unique_lock lk(mu_);
    if (auto it = flights_.find(key); it != flights_.end()) {
        // Someone is downloading it: wait for them. Their transfer is bounded by the
        // backend's timeouts and cancelled when the daemon stops, so this wait is too.
        auto flight = it->second;
        cv_.wait(lk, [&] { return flight->done; });
        if (flight->error) return std::unexpected(*flight->error);
        return std::uint64_t{0};
    }
    auto flight = std::make_shared<Flight>();
    // Until fn returns, its outcome is a failure: a pull that throws fails its waiters too.
    flight->error = Error{ErrorKind::internal, "the pull of " + key + " ended without a result"};
    flights_.emplace(key, flight);
    lk.unlock();
    // Waiters are released however the pull ends, an exception included.
    struct Finish {
        SharedPulls& self;
        const std::string& key;
        Flight& flight;
        ~Finish() {
            std::lock_guard g(self.mu_);
            flight.done = true;
            self.flights_.erase(key);
            self.cv_.notify_all();
        }
    };
    Result<std::uint64_t> r = std::uint64_t{0};
    {
        Finish finish{*this, key, *flight};
        r = fn();
        if (r && on_pulled_) on_pulled_(key); // recorded for `kache remote gc`, in memory
        std::lock_guard g(mu_); // released before finish's destructor takes it
        if (r) flight->error.reset();
        else flight->error = r.error();
    }
    return r;
}

std::size_t SharedPulls::in_flight() const {
    std::lock_guard g(mu_);
    return flights_.size();
}

} // namespace kache::daemon
