// Store::gc (lib/store/gc.cpp): young unreferenced blobs survive (a compile may have stored
// them and not yet written its entry), old ones go, the size cap evicts the least recently
// used entries first (never one an upload intent names), and a referenced blob stays.
#include <kache/store.hpp>

#include "core_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <string>

using namespace kache;
using kache::test::open_store;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Older than GC's one-hour grace period for unreferenced blobs and temp files.
constexpr std::int64_t k_two_hours_s = 2 * 3600;

// Sets a file's mtime to `ago_s` seconds before now.
void age(const fs::path& p, std::int64_t ago_s) {
    struct timespec times[2];
    ::clock_gettime(CLOCK_REALTIME, &times[0]);
    times[0].tv_sec -= ago_s;
    times[1] = times[0];
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
}

hash::Digest put(store::Store& s, const std::string& bytes) {
    auto d = s.put_blob(bytes);
    REQUIRE(d);
    return *d;
}

// An entry named `tag` with one output blob holding `bytes`, written to the store.
store::Entry add_entry(store::Store& s, const std::string& tag, const std::string& bytes) {
    store::Entry e;
    e.crate = tag;
    e.version = "1.0.0";
    e.k1 = hash::of("k1 " + tag);
    e.k2 = hash::of("k2 " + tag);
    e.outputs.push_back({"lib" + tag + ".rlib", put(s, bytes), bytes.size(), 0644, false});
    REQUIRE(s.write_entry(e));
    return e;
}

} // namespace

TEST_CASE("gc: a young blob no entry references survives", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    // Stored by a compile that has not written its entry yet.
    auto d = put(s, "blob of an entry about to be written");
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK(s.has_blob(d));
    CHECK(r->blobs_removed == 0);
    // Also under a cap of zero: only referenced blobs count against the cap.
    REQUIRE(s.gc(0));
    CHECK(s.has_blob(d));
}

TEST_CASE("gc: an old blob no entry references is collected", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    const std::string bytes = "orphaned blob";
    auto d = put(s, bytes);
    age(s.blob_path(d), k_two_hours_s);
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK_FALSE(s.has_blob(d));
    CHECK(r->blobs_removed == 1);
    CHECK(r->bytes_freed == bytes.size());
    CHECK(r->bytes_after == 0);
}

TEST_CASE("gc: a referenced blob is never removed", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto e = add_entry(s, "serde", "rlib of serde");
    auto d = e.outputs[0].blob;
    age(s.blob_path(d), k_two_hours_s);
    age(s.entry_path(e.k2), k_two_hours_s);
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK(s.has_blob(d));
    CHECK(s.has_entry(e.k2));
    CHECK(r->blobs_removed == 0);
    CHECK(r->entries_removed == 0);

    // A blob shared with an evicted entry stays while another entry still names it.
    store::Entry twin = e;
    twin.crate = "twin";
    twin.k1 = hash::of("k1 twin");
    twin.k2 = hash::of("k2 twin");
    const std::string extra(100, 'e');
    twin.outputs.push_back({"twin.rmeta", put(s, extra), extra.size(), 0644, false});
    REQUIRE(s.write_entry(twin));
    age(s.entry_path(twin.k2), 3 * k_two_hours_s); // least recently used: evicted first
    auto capped = s.gc(e.outputs[0].size);         // room for e's blob alone
    REQUIRE(capped);
    CHECK(capped->entries_removed == 1);
    CHECK_FALSE(s.has_entry(twin.k2));
    CHECK_FALSE(s.has_blob(twin.outputs[1].blob));
    CHECK(s.has_entry(e.k2));
    CHECK(s.has_blob(d));
}

TEST_CASE("gc: the size cap evicts least recently used entries first", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    const std::string payload(1000, 'x');
    auto oldest = add_entry(s, "oldest", payload + "1");
    auto middle = add_entry(s, "middle", payload + "2");
    auto newest = add_entry(s, "newest", payload + "3");
    auto pinned = add_entry(s, "pinned", payload + "4");
    age(s.entry_path(pinned.k2), 5 * k_two_hours_s);
    age(s.entry_path(oldest.k2), 4 * k_two_hours_s);
    age(s.entry_path(middle.k2), 3 * k_two_hours_s);
    age(s.entry_path(newest.k2), 2 * k_two_hours_s);
    // The oldest of all waits for upload: never evicted.
    REQUIRE(s.add_upload_intent(pinned.k2));
    // A hit makes the middle entry the most recently used.
    s.touch_entry(middle.k2);

    // Room for two entries' blobs: the pinned one and the most recently used.
    auto r = s.gc(2 * (payload.size() + 1));
    REQUIRE(r);
    CHECK(r->entries_removed == 2);
    CHECK(s.has_entry(pinned.k2));
    CHECK(s.has_entry(middle.k2));
    CHECK_FALSE(s.has_entry(oldest.k2));
    CHECK_FALSE(s.has_entry(newest.k2));
    // Their blobs went with them, young as they are: they were referenced until now.
    CHECK_FALSE(s.has_blob(oldest.outputs[0].blob));
    CHECK_FALSE(s.has_blob(newest.outputs[0].blob));
    CHECK(s.has_blob(middle.outputs[0].blob));
    CHECK(s.has_blob(pinned.outputs[0].blob));
    CHECK(r->blobs_removed == 2);
    CHECK(r->bytes_after == 2 * (payload.size() + 1));
}

TEST_CASE("gc: stale temp files go, young ones stay", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    kache::test::write_file(s.tmp_dir() / "stale", "left by a crash");
    kache::test::write_file(s.tmp_dir() / "young", "a compile in progress");
    age(s.tmp_dir() / "stale", k_two_hours_s);
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK(r->temp_files_removed == 1);
    CHECK_FALSE(fs::exists(s.tmp_dir() / "stale"));
    CHECK(fs::exists(s.tmp_dir() / "young"));
}

TEST_CASE("gc: entries and manifests that do not parse are removed", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto good = add_entry(s, "good", "good bytes");
    REQUIRE(s.add_input_set(good.k1, key::InputSet{}));
    auto bad_k2 = hash::of("bad k2"), bad_k1 = hash::of("bad k1");
    fs::create_directories(s.entry_path(bad_k2).parent_path());
    fs::create_directories(s.manifest_path(bad_k1).parent_path());
    {
        // An empty line after the header: the crash this guards against.
        std::FILE* f = std::fopen(s.entry_path(bad_k2).c_str(), "w");
        std::fputs("kache-entry 1\n\nend\n", f);
        std::fclose(f);
        f = std::fopen(s.manifest_path(bad_k1).c_str(), "w");
        std::fputs("kache-manifest 1\n\n", f);
        std::fclose(f);
    }
    auto r = s.gc(1ull << 30);
    REQUIRE(r);
    CHECK(r->corrupt_removed == 2);
    CHECK(r->entries_removed == 0);
    CHECK_FALSE(fs::exists(s.entry_path(bad_k2)));
    CHECK_FALSE(fs::exists(s.manifest_path(bad_k1)));
    CHECK(s.read_entry(good.k2));
    CHECK(s.read_manifest(good.k1));
}

TEST_CASE("gc: a shard that is a symlink is not entered, so nothing outside the store is removed", "[gc]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    // Files outside the store that would count as corrupt entries, manifests, memos
    // and old unreferenced blobs if GC walked into them.
    fs::path outside = dir / "outside";
    fs::create_directories(outside);
    kache::test::write_file(outside / "0123456789abcdef0123456789abcd", "not an entry\n");
    age(outside / "0123456789abcdef0123456789abcd", k_two_hours_s);
    for (const char* folder : {"entries", "manifests", "blobs"}) {
        fs::create_directories(s.root() / folder);
        fs::create_directory_symlink(outside, s.root() / folder / "ee");
    }
    fs::create_directories(s.seen_dir());
    fs::create_directory_symlink(outside, s.seen_dir() / "ee");
    auto r = s.gc(0);
    REQUIRE(r);
    CHECK(r->corrupt_removed == 0);
    CHECK(fs::exists(outside / "0123456789abcdef0123456789abcd"));
}
