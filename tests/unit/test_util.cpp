// kache::util: the temp file owner, the parent-directory retry, backoff, self_exe and
// spawn_detached.
#include <kache/util/backoff.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include "core_test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <sstream>
#include <thread>

using namespace kache;
using kache::test::read_file;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

namespace {

std::size_t count_files(const fs::path& dir) {
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator(dir)) ++n;
    return n;
}

// Waits up to a few seconds for path to hold a complete line.
std::string wait_for_line(const fs::path& path) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        if (fs::exists(path, ec)) {
            auto text = read_file(path);
            if (!text.empty() && text.back() == '\n') return text;
        }
        std::this_thread::sleep_for(milliseconds(10));
    }
    return "";
}

} // namespace

TEST_CASE("util::TempFile: commit replaces, the destructor removes an uncommitted file", "[util]") {
    TempDir dir;
    fs::path dest = dir / "dest";
    write_file(dest, "old");
    {
        auto tmp = util::TempFile::create(dir.path(), 0640);
        REQUIRE(tmp);
        CHECK(tmp->path().parent_path() == dir.path());
        REQUIRE(tmp->write("new"));
        REQUIRE(tmp->commit_replace(dest, true));
    }
    CHECK(read_file(dest) == "new");
    CHECK((fs::status(dest).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write |
                                                                 fs::perms::group_read));
    CHECK(count_files(dir.path()) == 1);

    fs::path staged;
    {
        auto tmp = util::TempFile::create(dir.path());
        REQUIRE(tmp);
        staged = tmp->path();
        REQUIRE(tmp->write("abandoned"));
        CHECK(fs::exists(staged));
    }
    CHECK_FALSE(fs::exists(staged));
    CHECK(count_files(dir.path()) == 1);
}

TEST_CASE("util::TempFile: commit_no_replace refuses an existing destination", "[util]") {
    TempDir dir;
    fs::path dest = dir / "dest";
    auto first = util::TempFile::create_beside(dest, "t");
    auto second = util::TempFile::create_beside(dest, "t");
    REQUIRE(first);
    REQUIRE(second);
    CHECK(first->path().parent_path() == dir.path());
    CHECK(first->path().filename().string().starts_with(".t.dest."));
    CHECK(first->path() != second->path());
    REQUIRE(first->write("first"));
    REQUIRE(second->write("second"));
    REQUIRE(first->commit_no_replace(dest));
    auto lost = second->commit_no_replace(dest, true);
    REQUIRE_FALSE(lost);
    CHECK(lost.error().kind == ErrorKind::conflict);
    CHECK(read_file(dest) == "first");
    fs::path loser = second->path();
    *second = std::move(*first); // move assignment drops (removes) the loser's file
    CHECK_FALSE(fs::exists(loser));
    CHECK(count_files(dir.path()) == 1);
}

TEST_CASE("util::TempFile: reset starts over; errors name their kind", "[util]") {
    TempDir dir;
    auto tmp = util::TempFile::create_beside(dir / "out", "get");
    REQUIRE(tmp);
    REQUIRE(tmp->write("partial download"));
    REQUIRE(tmp->reset());
    REQUIRE(tmp->write("whole"));
    REQUIRE(tmp->commit_replace(dir / "out"));
    CHECK(read_file(dir / "out") == "whole");

    // create: a missing directory is not_found (the caller makes it and retries) ...
    auto none = util::TempFile::create(dir / "missing");
    REQUIRE_FALSE(none);
    CHECK(none.error().kind == ErrorKind::not_found);
    // ... create_beside: io, so it never reads as "no such remote object".
    auto beside = util::TempFile::create_beside(dir / "missing" / "x", "get");
    REQUIRE_FALSE(beside);
    CHECK(beside.error().kind == ErrorKind::io);
    if (::geteuid() != 0) {
        fs::create_directory(dir / "ro");
        fs::permissions(dir / "ro", fs::perms::owner_read | fs::perms::owner_exec);
        auto denied = util::TempFile::create_beside(dir / "ro" / "x", "put", ErrorKind::denied);
        REQUIRE_FALSE(denied);
        CHECK(denied.error().kind == ErrorKind::denied);
    }
}

TEST_CASE("util::ScopedUnlink removes its path unless released", "[util]") {
    TempDir dir;
    fs::path kept;
    fs::path removed;
    {
        auto a = util::ScopedUnlink::unique_in(dir.path(), "up");
        auto b = util::ScopedUnlink::unique_in(dir.path(), "up");
        CHECK(a.path() != b.path());
        CHECK(a.path().filename().string().starts_with(".up."));
        write_file(a.path(), "a");
        write_file(b.path(), "b");
        removed = a.path();
        kept = b.release();
        util::ScopedUnlink moved(std::move(a));
        CHECK(moved.path() == removed);
    }
    CHECK_FALSE(fs::exists(removed));
    CHECK(fs::exists(kept));
}

TEST_CASE("util::make_parent_and_retry and open_file create a missing parent once", "[util]") {
    TempDir dir;
    fs::path target = dir / "a" / "b" / "file";
    int calls = 0;
    auto r = util::make_parent_and_retry(target, [&] {
        ++calls;
        return util::write_file_atomic(target, "x", dir.path());
    });
    REQUIRE(r);
    CHECK(calls == 2);
    CHECK(read_file(target) == "x");

    calls = 0;
    r = util::make_parent_and_retry(target, [&] {
        ++calls;
        return util::write_file_atomic(target, "y", dir.path());
    });
    REQUIRE(r);
    CHECK(calls == 1); // the directory exists: no second try

    // Another failure kind is returned as it is, without a retry.
    calls = 0;
    auto other = util::make_parent_and_retry(dir / "c" / "d", [&]() -> Result<void> {
        ++calls;
        return fail(ErrorKind::io, "disk full");
    });
    CHECK_FALSE(other);
    CHECK(calls == 1);
    CHECK_FALSE(fs::exists(dir / "c"));

    auto fd = util::open_file(dir / "e" / "f", O_WRONLY | O_CREAT | O_TRUNC);
    REQUIRE(fd);
    CHECK(util::write_all(fd->get(), "z"));
    CHECK(read_file(dir / "e" / "f") == "z");
    auto missing = util::open_file(dir / "g" / "h", O_RDONLY);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
    CHECK_FALSE(fs::exists(dir / "g"));
}

TEST_CASE("util::Backoff: ceilings double up to the cap, delays stay within the jitter", "[util]") {
    util::Backoff b; // the named defaults
    CHECK(b.base() == util::k_backoff_base);
    CHECK(b.cap() == util::k_backoff_cap);
    CHECK(b.ceiling(0) == milliseconds(0));
    CHECK(b.ceiling(1) == util::k_backoff_base);
    CHECK(b.ceiling(2) == 2 * util::k_backoff_base);
    CHECK(b.ceiling(3) == 4 * util::k_backoff_base);
    CHECK(b.ceiling(1000) == util::k_backoff_cap); // no overflow
    for (unsigned n = 1; n < 20; ++n) CHECK(b.ceiling(n + 1) >= b.ceiling(n));

    util::BackoffRng rng(42);
    for (unsigned n = 1; n <= 10; ++n) {
        for (int i = 0; i < 200; ++i) {
            auto d = b.delay(n, rng);
            CHECK(d >= milliseconds(0));
            CHECK(d <= b.ceiling(n));
        }
    }
    // Full jitter spreads over the whole range: some short and some long waits.
    milliseconds lo{1'000'000}, hi{0};
    for (int i = 0; i < 500; ++i) {
        auto d = b.delay(6, rng);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
    }
    CHECK(lo < b.ceiling(6) / 4);
    CHECK(hi > b.ceiling(6) * 3 / 4);

    // Equal jitter, as the daemon's upload retries use: ceiling 500 ms << n up to a minute,
    // each delay in [ceiling/2, ceiling].
    util::Backoff up(milliseconds(1000), std::chrono::seconds(60), util::Jitter::equal);
    for (unsigned n = 1; n < 8; ++n) {
        CHECK(up.ceiling(n).count() == std::min<long long>(60000, 500ll << n));
        for (int i = 0; i < 100; ++i) {
            auto d = up.delay(n, rng);
            CHECK(d >= up.ceiling(n) / 2);
            CHECK(d <= up.ceiling(n));
        }
    }
    CHECK(util::Backoff(milliseconds(0), milliseconds(100)).delay(3) == milliseconds(0));
}

TEST_CASE("util::Backoff: the same seed gives the same delays", "[util]") {
    util::Backoff b(milliseconds(10), milliseconds(10'000));
    util::BackoffRng r1(7), r2(7);
    for (unsigned n = 1; n < 12; ++n) CHECK(b.delay(n, r1) == b.delay(n, r2));
    std::mt19937 small(3); // the daemon's generator type works as well
    CHECK(b.delay(3, small) <= b.ceiling(3));
    CHECK(b.range(3) == std::make_pair(milliseconds(0), b.ceiling(3)));
    auto unseeded = b.delay(4);
    CHECK(unseeded <= b.ceiling(4));
}

TEST_CASE("util::self_exe names this test program", "[util]") {
    auto self = util::self_exe();
    REQUIRE(self);
    CHECK(self->is_absolute());
    CHECK(fs::equivalent(*self, "/proc/self/exe"));
    CHECK_FALSE(util::sibling_exe("no-such-program-beside-the-tests"));
}

TEST_CASE("util::spawn_detached runs a program in its own session with only its log", "[util]") {
    TempDir dir;
    fs::path out = dir / "out";
    fs::path log = dir / "logs" / "spawned.log"; // its directory is created
    // A pipe of ours without close-on-exec: if the spawned program held its write end, our
    // read would wait for that program instead of seeing EOF when we close ours.
    int leak[2];
    REQUIRE(::pipe(leak) == 0);
    std::string script = "echo to-the-log; echo \"$$ $(cut -d' ' -f6 /proc/$$/stat)\" > " + out.string() +
                         ".tmp && mv " + out.string() + ".tmp " + out.string() + " && exec sleep 5";
    auto pid = util::spawn_detached({"/bin/sh", "-c", script}, log);
    ::close(leak[1]);
    REQUIRE(pid);
    std::string line = wait_for_line(out);
    REQUIRE_FALSE(line.empty());
    std::istringstream fields(line);
    long got_pid = 0, sid = 0;
    fields >> got_pid >> sid;
    CHECK(got_pid == *pid);
    CHECK(sid != ::getsid(0)); // a session of its own (led by the exited middle process)
    CHECK(sid != *pid);        // and not its leader: it can never take a controlling terminal
    CHECK(::kill(static_cast<pid_t>(*pid), 0) == 0); // still sleeping ...
    char c;
    CHECK(::read(leak[0], &c, 1) == 0);             // ... without our pipe: EOF at once
    ::close(leak[0]);
    CHECK(wait_for_line(log) == "to-the-log\n");
    ::kill(static_cast<pid_t>(*pid), SIGTERM);

    auto missing = util::spawn_detached({(dir / "no-such-program").string()});
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
}
