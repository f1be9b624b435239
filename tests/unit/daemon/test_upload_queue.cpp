// The daemon's upload queue (lib/daemon/upload_queue.cpp) against a real
// temporary store and a filesystem remote: an upload lands and its intent is
// removed; enqueue deduplicates; transient failures are retried with backoff;
// failures a retry cannot fix park the intent until a rescan after
// parked_retry; a rescan finds intents nobody announced.
#include "../../../lib/daemon/upload_queue.hpp"

#include "../core_test_support.hpp"

#include <kache/key.hpp>
#include <kache/remote/filesystem.hpp>
#include <kache/remote/pack.hpp>

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

// What the fake remote shares across the backends the workers create.
struct Faults {
    std::atomic<int> failing_puts{0}; // how many puts fail before they succeed (-1: all)
    ErrorKind kind = ErrorKind::network;
    std::atomic<int> puts{0};
};

// A filesystem remote whose puts fail on request.
class FlakyBackend final : public remote::RemoteBackend {
public:
    FlakyBackend(std::unique_ptr<remote::FilesystemBackend> inner, std::shared_ptr<Faults> faults)
        : inner_(std::move(inner)), faults_(std::move(faults)) {}
    Result<bool> exists(const std::string& key) override { return inner_->exists(key); }
    Result<void> get(const std::string& key, const fs::path& dest) override { return inner_->get(key, dest); }
    Result<void> put(const std::string& key, const fs::path& src, remote::Overwrite o) override {
        ++faults_->puts;
        int left = faults_->failing_puts.load();
        if (left < 0) return fail(faults_->kind, "injected failure");
        if (left > 0 && faults_->failing_puts.compare_exchange_strong(left, left - 1))
            return fail(faults_->kind, "injected failure");
        return inner_->put(key, src, o);
    }
    Result<std::vector<remote::ObjectInfo>> list(const std::string& prefix) override { return inner_->list(prefix); }
    Result<void> remove(const std::string& key) override { return inner_->remove(key); }
    std::string describe() const override { return "flaky " + inner_->describe(); }

private:
    std::unique_ptr<remote::FilesystemBackend> inner_;
    std::shared_ptr<Faults> faults_;
};

// A recorded entry with its input set and an upload intent, as the wrapper leaves it.
store::Entry record(store::Store& s, const std::string& tag) {
    std::string bytes = "!<arch>\nrlib of " + tag;
    auto blob = s.put_blob(bytes);
    REQUIRE(blob);
    store::Entry e;
    e.crate = tag;
    e.version = "1.0.0";
    e.k1 = hash::of("k1 of " + tag);
    key::InputSet set;
    set.files.push_back({"src/lib.rs", hash::of("source of " + tag)});
    e.k2 = key::result_key(e.k1, set);
    e.outputs.push_back({"lib" + tag + ".rlib", *blob, bytes.size(), 0644, false});
    REQUIRE(s.write_entry(e));
    REQUIRE(s.add_input_set(e.k1, set));
    REQUIRE(s.add_upload_intent(e.k2));
    return e;
}

struct Fixture {
    TempDir dir{"kache-uq"};
    store::Store store = open_store(dir / "cache");
    fs::path remote_root = dir / "remote";
    std::shared_ptr<Faults> faults = std::make_shared<Faults>();
    daemon::Log log;

    Fixture() { fs::create_directories(remote_root); }

    remote::BackendMaker maker() {
        return [root = remote_root, faults = faults]() -> Result<std::unique_ptr<remote::RemoteBackend>> {
            auto fsb = remote::FilesystemBackend::create(root);
            if (!fsb) return std::unexpected(fsb.error());
            return std::make_unique<FlakyBackend>(std::move(*fsb), faults);
        };
    }
    bool on_remote(const store::Entry& e) {
        return fs::exists(remote_root / remote::pack_key(e)) && fs::exists(remote_root / remote::manifest_key(e));
    }
    bool has_intent(const hash::Digest& k2) {
        for (auto& d : store.upload_intents())
            if (d == k2) return true;
        return false;
    }
};

daemon::UploadSettings fast(int workers = 1) {
    daemon::UploadSettings s;
    s.workers = workers;
    s.retry_base = 5ms;
    s.retry_cap = 40ms;
    return s;
}

template <class F>
bool wait_for(F done, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

} // namespace

TEST_CASE("upload queue: an entry lands on the remote and its intent goes", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    auto b = record(f.store, "beta");
    daemon::UploadQueue q(f.store, f.maker(), f.log, fast(2));
    q.enqueue(a.k2);
    q.enqueue(b.k2);
    q.start();
    REQUIRE(q.drain(5s));
    CHECK(f.on_remote(a));
    CHECK(f.on_remote(b));
    CHECK(f.store.upload_intents().empty());
    auto s = q.stats();
    CHECK(s.uploaded == 2);
    CHECK(s.failures == 0);
    CHECK(q.idle());
}

TEST_CASE("upload queue: enqueue deduplicates, and a rescan skips what is queued", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    daemon::UploadQueue q(f.store, f.maker(), f.log, fast());
    q.enqueue(a.k2);
    q.enqueue(a.k2);
    q.enqueue(a.k2);
    CHECK(q.stats().queued == 1);
    CHECK(q.rescan() == 0);
    CHECK(q.stats().queued == 1);
    q.start();
    REQUIRE(q.drain(5s));
    CHECK(f.faults->puts == 2); // one pack, one manifest: uploaded once
    CHECK(q.stats().uploaded == 1);
}

TEST_CASE("upload queue: transient failures are retried with backoff until they succeed", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    f.faults->failing_puts = 3;
    f.faults->kind = ErrorKind::network;
    daemon::UploadQueue q(f.store, f.maker(), f.log, fast());
    q.enqueue(a.k2);
    q.start();
    REQUIRE(wait_for([&] { return q.stats().uploaded == 1; }));
    CHECK(q.stats().failures == 3);
    CHECK(q.stats().retrying == 0);
    CHECK(q.stats().parked == 0);
    CHECK(f.on_remote(a));
    CHECK_FALSE(f.has_intent(a.k2));
    CHECK(f.log.last_error().find("attempt 3") != std::string::npos);
}

TEST_CASE("upload queue: a failure waits for its retry, not a busy loop", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    f.faults->failing_puts = 1;
    auto settings = fast();
    settings.retry_base = 400ms; // the first retry waits 400-800 ms
    settings.retry_cap = 800ms;
    daemon::UploadQueue q(f.store, f.maker(), f.log, settings);
    q.enqueue(a.k2);
    q.start();
    REQUIRE(wait_for([&] { return q.stats().failures == 1; }));
    CHECK(q.stats().retrying == 1);
    CHECK(q.idle()); // nothing queued or in flight while the retry waits
    CHECK(q.rescan() == 0); // a waiting retry is not queued twice
    std::this_thread::sleep_for(150ms);
    CHECK(q.stats().uploaded == 0);
    REQUIRE(wait_for([&] { return q.stats().uploaded == 1; }));
    CHECK(f.faults->puts == 3);
}

TEST_CASE("upload queue: retry delays grow, stay jittered and capped", "[daemon][upload]") {
    std::mt19937 rng(7);
    for (int i = 0; i < 50; ++i) {
        auto d1 = daemon::retry_delay(1, daemon::k_upload_retry_base, daemon::k_upload_retry_cap, rng);
        CHECK(d1 >= 500ms);
        CHECK(d1 <= 1000ms);
        auto d3 = daemon::retry_delay(3, daemon::k_upload_retry_base, daemon::k_upload_retry_cap, rng);
        CHECK(d3 >= 2000ms);
        CHECK(d3 <= 4000ms);
        auto d20 = daemon::retry_delay(20, daemon::k_upload_retry_base, daemon::k_upload_retry_cap, rng);
        CHECK(d20 >= daemon::k_upload_retry_cap / 2);
        CHECK(d20 <= daemon::k_upload_retry_cap);
    }
}

TEST_CASE("upload queue: failures a retry cannot fix park the intent until parked_retry", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    f.faults->failing_puts = -1;
    auto settings = fast();
    SECTION("a denied put is parked at once") {
        f.faults->kind = ErrorKind::denied;
    }
    SECTION("a transient failure is parked after max_attempts") {
        f.faults->kind = ErrorKind::server;
        settings.max_attempts = 3;
    }
    settings.parked_retry = 1s;
    daemon::UploadQueue q(f.store, f.maker(), f.log, settings);
    q.enqueue(a.k2);
    q.start();
    REQUIRE(wait_for([&] { return q.stats().parked == 1; }));
    CHECK(q.idle());
    CHECK(f.has_intent(a.k2)); // the intent stays on disk
    CHECK(q.rescan() == 0);    // parked less than parked_retry ago
    std::this_thread::sleep_for(1100ms);
    f.faults->failing_puts = 0; // the remote works again
    CHECK(q.rescan() == 1);
    REQUIRE(q.drain(5s));
    CHECK(q.stats().uploaded == 1);
    CHECK(q.stats().parked == 0);
    CHECK(f.on_remote(a));
    CHECK_FALSE(f.has_intent(a.k2));
}

TEST_CASE("upload queue: a rescan queues intents no request announced", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    auto b = record(f.store, "beta");
    daemon::UploadQueue q(f.store, f.maker(), f.log, fast());
    q.start();
    CHECK(q.rescan() == 2);
    REQUIRE(q.drain(5s));
    CHECK(f.on_remote(a));
    CHECK(f.on_remote(b));
    CHECK(q.rescan() == 0);
}

TEST_CASE("upload queue: an entry that is gone is nothing to upload", "[daemon][upload]") {
    Fixture f;
    auto a = record(f.store, "alpha");
    auto fsb = remote::FilesystemBackend::create(f.remote_root);
    REQUIRE(fsb);
    hash::Digest missing = hash::of("no such entry");
    CHECK(daemon::push_entry(f.store, **fsb, missing));
    CHECK(daemon::push_entry(f.store, **fsb, a.k2));
    CHECK(f.on_remote(a));
    // Pushed twice: the objects exist already, which is success.
    CHECK(daemon::push_entry(f.store, **fsb, a.k2));
}
