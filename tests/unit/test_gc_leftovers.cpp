// Prompt collection of leftovers (lib/store/gc.cpp, lib/store/intents.cpp): a temp file
// whose writer is gone goes at once, one still held or owned by a live pid stays, an
// orphan blob goes once no writer is active, and intent files that cannot be intents go.
#include <kache/store.hpp>
#include <kache/util/fs.hpp>

#include "core_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>

using namespace kache;
using kache::test::open_store;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {
// A pid no process has (above the kernel's pid_max limit of 2^22).
constexpr const char* k_dead_pid = "999999999";

void age_s(const fs::path& p, std::int64_t ago_s) {
    struct timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= ago_s;
    times[1] = times[0];
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}
} // namespace

TEST_CASE("gc: a temp file whose writer is gone goes at once", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    fs::path dead = s.tmp_dir() / (std::string(".tmp.") + k_dead_pid + ".abc");
    fs::path dead_dep = s.tmp_dir() / (std::string("dep-") + k_dead_pid + "-0123.d");
    fs::path mine = s.tmp_dir() / (".tmp." + std::to_string(::getpid()) + ".def");
    fs::path unnamed = s.tmp_dir() / "something-else";
    for (auto& p : {dead, dead_dep, mine, unnamed}) write_file(p, "x");
    auto held = util::TempFile::create(s.tmp_dir());
    REQUIRE(held);
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK_FALSE(fs::exists(dead));
    CHECK_FALSE(fs::exists(dead_dep));
    CHECK(fs::exists(mine));      // this process runs
    CHECK(fs::exists(unnamed));   // no owner to ask: only the hour rule
    CHECK(fs::exists(held->path()));
    CHECK(r->temp_files_removed == 2);
}

TEST_CASE("gc: a download's staging file goes with its dead writer, stays with a live one", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    // A remote backend stages a download beside the temp file it fills (TempFile::create_beside).
    fs::path dead = s.tmp_dir() / (std::string(".kache-get..tmp.") + k_dead_pid + ".abc.XyZ123");
    fs::path mine = s.tmp_dir() / (".kache-get..tmp." + std::to_string(::getpid()) + ".def.XyZ123");
    for (auto& p : {dead, mine}) write_file(p, "partial pack");
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK_FALSE(fs::exists(dead));
    CHECK(fs::exists(mine));
    CHECK(r->temp_files_removed == 1);
}

TEST_CASE("gc: a flock-held temp file stays whatever pid its name carries", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto held = util::TempFile::create(s.tmp_dir());
    REQUIRE(held);
    fs::path renamed = s.tmp_dir() / (std::string(".tmp.") + k_dead_pid + ".held");
    REQUIRE(::rename(held->path().c_str(), renamed.c_str()) == 0);
    REQUIRE(s.gc(1ull << 30));
    CHECK(fs::exists(renamed));
    ::unlink(renamed.c_str());
}

TEST_CASE("gc: an orphan blob goes after a few seconds when no writer is active", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto d = s.put_blob("orphan after a full disk");
    REQUIRE(d);
    age_s(s.blob_path(*d), 60);
    SECTION("a key lock is held: it stays") {
        auto lock = s.lock_key(*d, std::chrono::milliseconds(100));
        REQUIRE(lock);
        REQUIRE(s.gc(1ull << 30));
        CHECK(s.has_blob(*d));
    }
    SECTION("no writer: it goes") {
        auto r = s.gc(1ull << 30);
        REQUIRE(r);
        CHECK_FALSE(s.has_blob(*d));
        CHECK(r->blobs_removed == 1);
    }
}

TEST_CASE("intents: unparseable intent files are removed, good ones stay", "[intents]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto good = hash::of(std::string("entry"));
    REQUIRE(s.add_upload_intent(good));
    auto other = hash::of(std::string("other"));
    fs::path q = s.root() / "upload-queue"; // the layout DESIGN.md names
    write_file(q / "garbage", "not an intent\n");
    write_file(q / other.hex(), "zz\n");
    fs::create_directories(q / "a-directory");
    auto removed = s.remove_unparseable_intents();
    CHECK(removed.size() == 3);
    CHECK(std::any_of(removed.begin(), removed.end(), [](auto& m) { return m.find("garbage") != std::string::npos; }));
    CHECK_FALSE(fs::exists(q / "garbage"));
    CHECK_FALSE(fs::exists(q / other.hex()));
    CHECK_FALSE(fs::exists(q / "a-directory"));
    auto left = s.upload_intents();
    REQUIRE(left.size() == 1);
    CHECK(left[0] == good);
}
