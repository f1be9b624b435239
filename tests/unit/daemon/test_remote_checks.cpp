// The daemon's remote checks (lib/daemon/remote_checks.cpp) against a remote
// whose listings stall on request: one check running past the deadline marks
// the remote unavailable, releases the waiting wrappers and makes later checks
// answer at once; a probe brings the remote back once it answers again.
#include "../../../lib/daemon/remote_checks.hpp"

#include "../core_test_support.hpp"

#include <kache/remote/layout.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
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

namespace {

// A remote listing `count` manifests under one K1, written one second apart, whose objects
// cannot be read: it records which manifests a check tried to pull.
class ManyManifestsBackend final : public remote::RemoteBackend {
public:
    ManyManifestsBackend(std::string prefix, int count, std::shared_ptr<std::vector<std::string>> asked)
        : prefix_(std::move(prefix)), count_(count), asked_(std::move(asked)) {}
    Result<bool> exists(const std::string&) override { return false; }
    Result<void> get(const std::string& key, const fs::path&) override {
        std::lock_guard g(mu_);
        asked_->push_back(key);
        return fail(ErrorKind::not_found, "gone");
    }
    Result<void> put(const std::string&, const fs::path&, remote::Overwrite) override { return ok(); }
    Result<std::vector<remote::ObjectInfo>> list(const std::string& prefix) override {
        std::vector<remote::ObjectInfo> out;
        if (prefix != prefix_) return out;
        // Listed oldest first, as a listing by name may well be.
        for (int i = 0; i < count_; ++i)
            out.push_back({prefix_ + hash::of(std::to_string(i)).hex(), 100, 1'000'000 + i});
        return out;
    }
    Result<void> remove(const std::string&) override { return ok(); }
    std::string describe() const override { return "many manifests"; }

private:
    std::string prefix_;
    int count_;
    std::shared_ptr<std::vector<std::string>> asked_;
    std::mutex mu_;
};

} // namespace

TEST_CASE("remote checks: a check pulls at most the newest few input sets of one K1", "[daemon][checks]") {
    TempDir dir;
    auto store = open_store(dir / "store");
    daemon::Log log;
    log.open(dir / "kached.log", false, daemon::LogLevel::info);
    const auto k1 = digest_of('a');
    const std::string prefix = remote::invocation_manifest_prefix("crate", "1.0.0", k1);
    constexpr int listed = 40;
    auto asked = std::make_shared<std::vector<std::string>>();
    std::atomic<int> answered{0};
    daemon::CheckSettings settings;
    settings.workers = 1;
    settings.deadline = 0ms;
    daemon::RemoteChecks checks(
        store, [&]() -> Result<std::unique_ptr<remote::RemoteBackend>> {
            return std::make_unique<ManyManifestsBackend>(prefix, listed, asked);
        },
        log, settings, [&](const std::vector<ipc::ConnectionId>&, const ipc::CheckReply&) { ++answered; });
    checks.start();
    CHECK_FALSE(checks.check(1, k1, "crate", "1.0.0"));
    REQUIRE(eventually([&] { return answered == 1; }, 5s));
    checks.stop();

    REQUIRE(asked->size() == daemon::k_max_pulls_per_check);
    std::set<std::string> want;
    for (int i = listed - static_cast<int>(daemon::k_max_pulls_per_check); i < listed; ++i)
        want.insert(prefix + hash::of(std::to_string(i)).hex());
    CHECK(std::set<std::string>(asked->begin(), asked->end()) == want);
}
