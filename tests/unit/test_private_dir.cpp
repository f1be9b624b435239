// util::check_private_dir: which cache directories are trusted, created or tightened.
#include <kache/store.hpp>
#include <kache/util/private_dir.hpp>

#include "core_test_support.hpp"

#include <sys/stat.h>
#include <unistd.h>

using namespace kache;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

mode_t mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

} // namespace

TEST_CASE("private dir: created 0700, accepted again", "[util][private]") {
    TempDir dir;
    fs::path p = dir / "a" / "b" / "cache";
    auto made = util::check_private_dir(p, true);
    REQUIRE(made);
    CHECK(made->created);
    CHECK(mode_of(p) == 0700);
    auto again = util::check_private_dir(p, false);
    REQUIRE(again);
    CHECK_FALSE(again->created);
    CHECK_FALSE(again->tightened);
    auto missing = util::check_private_dir(dir / "nope", false);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
}

TEST_CASE("private dir: a readable dir of ours is tightened, a writable one refused", "[util][private]") {
    TempDir dir;
    fs::path p = dir / "cache";
    REQUIRE(::mkdir(p.c_str(), 0700) == 0);
    REQUIRE(::chmod(p.c_str(), 0755) == 0);
    auto r = util::check_private_dir(p, false);
    REQUIRE(r);
    CHECK(r->tightened);
    CHECK(mode_of(p) == 0700);

    REQUIRE(::chmod(p.c_str(), 0777) == 0);
    auto w = util::check_private_dir(p, true);
    REQUIRE_FALSE(w);
    CHECK(w.error().kind == ErrorKind::denied);
    CHECK(w.error().message.find("chmod 700 " + p.string()) != std::string::npos);
    CHECK(mode_of(p) == 0777); // refused, not changed

    // Group-writable by our own primary group: what umask 002 left behind; tightened.
    REQUIRE(::chmod(p.c_str(), 0775) == 0);
    REQUIRE(::chown(p.c_str(), static_cast<uid_t>(-1), ::getegid()) == 0);
    auto g = util::check_private_dir(p, false);
    REQUIRE(g);
    CHECK(mode_of(p) == 0700);
}

TEST_CASE("private dir: a symlink of ours to a private dir is fine, to a file is not", "[util][private]") {
    TempDir dir;
    fs::path target = dir / "real";
    REQUIRE(::mkdir(target.c_str(), 0700) == 0);
    fs::path link = dir / "link";
    REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
    CHECK(util::check_private_dir(link, true).has_value());

    fs::path file = dir / "file";
    kache::test::write_file(file, "x");
    auto f = util::check_private_dir(file, true);
    REQUIRE_FALSE(f);
    CHECK(f.error().kind == ErrorKind::denied);
}

TEST_CASE("private dir: the store refuses a world-writable root and creates a private layout", "[store][private]") {
    TempDir dir;
    fs::path root = dir / "cache";
    auto s = store::Store::open(root);
    REQUIRE(s);
    for (const char* sub : {"", "blobs", "entries", "manifests", "locks", "tmp", "events", "upload-queue"}) {
        INFO(sub);
        CHECK(mode_of(root / sub) == 0700);
    }
    auto d = s->put_blob("private");
    REQUIRE(d);
    CHECK(mode_of(s->blob_path(*d)) == 0400);
    CHECK(mode_of(s->blob_path(*d).parent_path()) == 0700);
    REQUIRE(::chmod(root.c_str(), 0777) == 0);
    auto refused = store::Store::open(root);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::denied);
    CHECK(refused.error().message.find("chmod 700") != std::string::npos);
}
