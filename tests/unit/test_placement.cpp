// The store's placement policy: no two target dirs ever share an inode.
#include <kache/store.hpp>

#include "core_test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

using namespace kache;
using kache::test::TempDir;
using kache::test::open_store;
using kache::test::stat_of;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

// A store that cannot reflink (as on ext4), so the link branch of the policy runs.
store::Store linking_store(const fs::path& root) {
    auto s = open_store(root);
    write_file(root / "no-reflink", "");
    return s;
}

struct Snapshot {
    ino_t ino;
    nlink_t nlink;
    off_t size;
    struct timespec mtime;
};

Snapshot snap(const fs::path& p) {
    auto st = stat_of(p);
    return {st.st_ino, st.st_nlink, st.st_size, st.st_mtim};
}

bool same_mtime(const Snapshot& a, const Snapshot& b) {
    return a.mtime.tv_sec == b.mtime.tv_sec && a.mtime.tv_nsec == b.mtime.tv_nsec;
}

// Sets path's mtime a day back, so any later touch of its inode is visible.
void age(const fs::path& p) {
    struct timespec t[2];
    ::clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= 86400;
    t[1] = t[0];
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), t, 0) == 0);
}

} // namespace

TEST_CASE("placement: which outputs may be linked", "[store][placement]") {
    CHECK(store::placement_for("libx-0123.rlib") == store::Placement::allow_link);
    CHECK(store::placement_for("libx-0123.rmeta") == store::Placement::allow_link);
    CHECK(store::placement_for("app-0123") == store::Placement::allow_link);
    CHECK(store::placement_for("build_script_build-0123") == store::Placement::allow_link);
    CHECK(store::placement_for("libpm-0123.so") == store::Placement::allow_link);
    CHECK(store::placement_for("x-0123.d") == store::Placement::copy_only);
}

TEST_CASE("placement: a link is kept only while the store and one tree hold the inode", "[store][placement]") {
    CHECK(store::may_keep_link(2, 0100644, 0644));
    CHECK(store::may_keep_link(1, 0100644, 0644));
    CHECK(store::may_keep_link(2, 0100600, 0644));
    CHECK_FALSE(store::may_keep_link(3, 0100644, 0644)); // another tree, or a racing restore
    CHECK_FALSE(store::may_keep_link(2, 0100644, 0755)); // the mode wanted is not the inode's
    CHECK(store::may_keep_link(2, 0100755, 0755));
    // A read-only blob (a remote import, a copy) would give the tree an output rustc
    // refuses to compile over: it is copied instead.
    CHECK_FALSE(store::may_keep_link(2, 0100444, 0644));
    CHECK_FALSE(store::may_keep_link(2, 0100400, 0644));
    CHECK_FALSE(store::may_keep_link(2, 0100555, 0755));
}

TEST_CASE("placement: two target dirs never share an inode", "[store][placement]") {
    TempDir dir;
    auto s = linking_store(dir / "c");
    const std::string content = kache::test::random_bytes(20'000, 3);
    auto d = s.put_blob(content);
    REQUIRE(d);
    fs::path blob = s.blob_path(*d);
    // Writable by its owner, as the blob of a recorded or imported output is (one
    // stored from memory is read-only, and is never linked).
    REQUIRE(::chmod(blob.c_str(), 0644) == 0);
    fs::create_directories(dir / "a");
    fs::create_directories(dir / "b");
    fs::path in_a = dir / "a" / "libx.rlib";
    fs::path in_b = dir / "b" / "libx.rlib";

    SECTION("the first tree links, the second gets a private copy") {
        auto via_a = s.restore_file(*d, in_a, 0644, store::Placement::allow_link);
        REQUIRE(via_a);
        CHECK(std::string(*via_a) == "link");
        age(in_a);
        Snapshot a0 = snap(in_a);
        CHECK(a0.ino == snap(blob).ino);

        auto via_b = s.restore_file(*d, in_b, 0644, store::Placement::allow_link);
        REQUIRE(via_b);
        CHECK(std::string(*via_b) == "copy");
        CHECK(kache::test::read_file(in_b) == content);
        Snapshot a1 = snap(in_a);
        CHECK(a1.ino == a0.ino);
        CHECK(a1.size == a0.size);
        CHECK(same_mtime(a1, a0));        // tree B's fresh mtime did not move tree A's file
        CHECK(snap(in_b).ino != a0.ino);
        CHECK(snap(blob).nlink == 2);     // the store and tree A only

        SECTION("the first tree restoring again keeps its link") {
            auto again = s.restore_file(*d, in_a, 0644, store::Placement::allow_link);
            REQUIRE(again);
            CHECK(std::string(*again) == "link");
            CHECK(snap(in_a).ino == snap(blob).ino);
            CHECK(snap(blob).nlink == 2);
        }
        SECTION("once the first tree lets go, the next restore may link") {
            REQUIRE(::unlink(in_a.c_str()) == 0);
            auto via = s.restore_file(*d, in_b, 0644, store::Placement::allow_link);
            REQUIRE(via);
            CHECK(std::string(*via) == "link");
        }
    }
    SECTION("a tree whose compile was recorded owns the blob's inode") {
        fs::path compiled = dir / "a" / "liby.rlib";
        write_file(compiled, "freshly compiled output");
        auto y = s.put_blob_file(compiled, store::Placement::allow_link);
        REQUIRE(y);
        REQUIRE(snap(compiled).ino == snap(s.blob_path(*y)).ino);
        age(compiled);
        Snapshot a0 = snap(compiled);
        auto via = s.restore_file(*y, dir / "b" / "liby.rlib", 0644, store::Placement::allow_link);
        REQUIRE(via);
        CHECK(std::string(*via) == "copy");
        CHECK(same_mtime(snap(compiled), a0));
        CHECK(snap(dir / "b" / "liby.rlib").ino != a0.ino);
    }
    SECTION("a name linked by someone else (a racing restore) means a copy") {
        fs::path other = dir / "b" / "racing.rlib";
        REQUIRE(::link(blob.c_str(), other.c_str()) == 0);
        auto via = s.restore_file(*d, in_a, 0644, store::Placement::allow_link);
        REQUIRE(via);
        CHECK(std::string(*via) == "copy");
        CHECK(snap(in_a).ino != snap(blob).ino);
        CHECK(snap(blob).nlink == 2); // the store and the other name: ours went away
    }
}
