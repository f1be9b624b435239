// SharedPulls (lib/daemon/pulls.cpp): remote checks and prefetch asking for the same
// entry at once download it once; the second asker gets the first's outcome.
#include "../../../lib/daemon/pulls.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

using namespace kache;
using namespace std::chrono_literals;

namespace {

template <class F> bool eventually(F f) {
    auto end = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < end) {
        if (f()) return true;
        std::this_thread::sleep_for(2ms);
    }
    return f();
}

} // namespace

TEST_CASE("shared pulls: a second pull of a key in flight waits and does not download again", "[daemon][pulls]") {
    daemon::SharedPulls pulls;
    std::atomic<int> downloads{0};
    std::promise<void> release;
    auto released = release.get_future().share();
    auto slow = [&]() -> Result<std::uint64_t> {
        ++downloads;
        released.wait();
        return std::uint64_t{1234};
    };
    auto first = std::async(std::launch::async, [&] { return pulls.pull("k", slow); });
    REQUIRE(eventually([&] { return pulls.in_flight() == 1; }));
    auto second = std::async(std::launch::async, [&] { return pulls.pull("k", slow); });
    // Another key is not held up by the first.
    auto other = pulls.pull("other", [&]() -> Result<std::uint64_t> { ++downloads; return std::uint64_t{7}; });
    REQUIRE(other);
    CHECK(*other == 7);
    CHECK(second.wait_for(50ms) == std::future_status::timeout); // waiting for the first
    release.set_value();
    auto a = first.get(), b = second.get();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(*a == 1234);
    CHECK(*b == 0); // the waiter downloaded nothing
    CHECK(downloads == 2); // "k" once, "other" once
    CHECK(pulls.in_flight() == 0);
    // Once done, the key can be pulled again (a later entry under the same key).
    CHECK(pulls.pull("k", slow));
    CHECK(downloads == 3);
}

TEST_CASE("shared pulls: a failed pull's error reaches its waiters", "[daemon][pulls]") {
    daemon::SharedPulls pulls;
    std::promise<void> release;
    auto released = release.get_future().share();
    auto failing = [&]() -> Result<std::uint64_t> {
        released.wait();
        return fail(ErrorKind::corrupt, "bad pack");
    };
    auto first = std::async(std::launch::async, [&] { return pulls.pull("k", failing); });
    REQUIRE(eventually([&] { return pulls.in_flight() == 1; }));
    std::atomic<bool> ran{false};
    auto second = std::async(std::launch::async, [&] {
        return pulls.pull("k", [&]() -> Result<std::uint64_t> { ran = true; return std::uint64_t{1}; });
    });
    std::this_thread::sleep_for(20ms);
    release.set_value();
    auto b = second.get();
    REQUIRE_FALSE(b);
    CHECK(b.error().kind == ErrorKind::corrupt);
    CHECK_FALSE(ran);
    CHECK_FALSE(first.get());
}

TEST_CASE("shared pulls: waiters are released when a pull throws", "[daemon][pulls]") {
    daemon::SharedPulls pulls;
    std::promise<void> release;
    auto released = release.get_future().share();
    auto first = std::async(std::launch::async, [&] {
        return pulls.pull("k", [&]() -> Result<std::uint64_t> {
            released.wait();
            throw std::runtime_error("boom");
        });
    });
    REQUIRE(eventually([&] { return pulls.in_flight() == 1; }));
    auto second = std::async(std::launch::async, [&] {
        return pulls.pull("k", []() -> Result<std::uint64_t> { return std::uint64_t{1}; });
    });
    std::this_thread::sleep_for(20ms);
    release.set_value();
    CHECK_THROWS(first.get());
    auto b = second.get();
    CHECK_FALSE(b); // released with an error, not left waiting
    CHECK(pulls.in_flight() == 0);
}

TEST_CASE("shared pulls: on_pulled hears each successful download once", "[daemon][pulls]") {
    daemon::SharedPulls pulls;
    std::vector<std::string> heard;
    pulls.on_pulled([&](const std::string& key) { heard.push_back(key); });
    CHECK(pulls.pull("a", [] { return Result<std::uint64_t>(7); }));
    CHECK(!pulls.pull("b", [] { return Result<std::uint64_t>(std::unexpected(Error{ErrorKind::io, "down"})); }));
    CHECK(heard == std::vector<std::string>{"a"});
}
