// The daemon's remote checks (lib/daemon/remote_checks.cpp) against a remote
// whose listings stall on request: one check running past the deadline marks
// the remote unavailable, releases the waiting wrappers and makes later checks
// answer at once; a probe brings the remote back once it answers again.
#include "../../../lib/daemon/remote_checks.hpp"

#include "../core_test_support.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

using namespace kache;
using namespace std::chrono_literals;
using kache::test::open_store;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

// A remote with nothing on it whose listings hang while `stalled` is set.
class StallingBackend final : public remote::RemoteBackend {
public:
    explicit StallingBackend(std::shared_ptr<std::atomic<bool>> stalled) : stalled_(std::move(stalled)) {}
    Result<bool> exists(const std::string&) override { return false; }
    Result<void> get(const std::string&, const fs::path&) override { return fail(ErrorKind::not_found, "none"); }
    Result<void> put(const std::string&, const fs::path&, remote::Overwrite) override { return ok(); }
    Result<std::vector<remote::ObjectInfo>> list(const std::string&) override {
        while (*stalled_) std::this_thread::sleep_for(5ms);
        return std::vector<remote::ObjectInfo>{};
    }
    Result<void> remove(const std::string&) override { return ok(); }
    std::string describe() const override { return "stalling"; }

private:
    std::shared_ptr<std::atomic<bool>> stalled_;
};

hash::Digest digest_of(char c) { return *hash::Digest::from_hex(std::string(32, c)); }

template <class F> bool eventually(F f, std::chrono::milliseconds within) {
    auto end = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return f();
}

} // namespace

TEST_CASE("remote checks: a stall marks the remote unavailable until a probe answers", "[daemon][checks]") {
    TempDir dir;
    auto store = open_store(dir / "store");
    daemon::Log log;
    log.open(dir / "kached.log", false, daemon::LogLevel::info);
    auto stalled = std::make_shared<std::atomic<bool>>(true);
    std::mutex mu;
    std::vector<std::pair<ipc::ConnectionId, ipc::CheckReply>> answers;
    daemon::CheckSettings settings;
    settings.workers = 2;
    settings.remote_down_backoff = 1s;
    settings.deadline = 200ms;
    daemon::RemoteChecks checks(
        store, [stalled]() -> Result<std::unique_ptr<remote::RemoteBackend>> {
            return std::make_unique<StallingBackend>(stalled);
        },
        log, settings, [&](const std::vector<ipc::ConnectionId>& to, const ipc::CheckReply& r) {
            std::lock_guard g(mu);
            for (auto c : to) answers.emplace_back(c, r);
        });
    checks.start();
    auto answered = [&] {
        std::lock_guard g(mu);
        return answers.size();
    };

    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(checks.check(1, digest_of('a'), "a", "1"));
    CHECK_FALSE(checks.check(2, digest_of('b'), "b", "1"));
    // Both waiting wrappers are released once the first check passes the deadline.
    REQUIRE(eventually([&] { return answered() == 2; }, 2s));
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
    {
        std::lock_guard g(mu);
        for (auto& [c, r] : answers) {
            CHECK_FALSE(r.ok);
            CHECK(r.error.find("unavailable") != std::string::npos);
        }
    }
    CHECK_FALSE(checks.available());
    // Later checks are answered at once, without asking the remote.
    auto now = checks.check(3, digest_of('c'), "c", "1");
    REQUIRE(now);
    CHECK_FALSE(now->ok);

    *stalled = false;
    REQUIRE(eventually([&] { return checks.available(); }, 5s));
    // The remote is asked again: the check is queued and answered by a worker.
    CHECK_FALSE(checks.check(4, digest_of('d'), "d", "1"));
    REQUIRE(eventually([&] {
        std::lock_guard g(mu);
        for (auto& [c, r] : answers)
            if (c == 4) return r.ok && r.error.empty();
        return false;
    }, 5s));
    checks.stop();
}
