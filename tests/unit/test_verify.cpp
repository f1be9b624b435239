// The store's integrity checks (lib/store/verify.cpp): a blob whose bytes changed in
// place with its stamp kept is found by re-reading it, entries naming a missing or
// corrupt blob are reported, unparseable entries and manifests too; --repair removes
// them all, and a second run finds nothing.
#include <kache/store.hpp>

#include "core_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

using namespace kache;
using kache::test::open_store;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

store::CheckOptions opts(bool verify, bool repair) {
    store::CheckOptions o;
    o.verify_blobs = verify;
    o.repair = repair;
    return o;
}

hash::Digest put(store::Store& s, const std::string& bytes) {
    auto d = s.put_blob(bytes);
    REQUIRE(d);
    return *d;
}

store::Entry entry_with(const std::string& crate, const hash::Digest& blob, unsigned seed) {
    store::Entry e;
    e.crate = crate;
    e.k1 = hash::of("k1-" + std::to_string(seed));
    e.k2 = hash::of("k2-" + std::to_string(seed));
    e.outputs.push_back({"lib" + crate + ".rlib", blob, 10, 0644, false});
    return e;
}

// Flips one byte of path in place and puts its mtime back, as bit rot would leave it.
void rot_keeping_stamp(const fs::path& p) {
    struct stat before = kache::test::stat_of(p);
    ::chmod(p.c_str(), 0644);
    int fd = ::open(p.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c = 0;
    REQUIRE(::pread(fd, &c, 1, 3) == 1);
    c = static_cast<char>(c ^ 0x20);
    REQUIRE(::pwrite(fd, &c, 1, 3) == 1);
    ::close(fd);
    ::chmod(p.c_str(), 0444);
    struct timespec times[2] = {before.st_atim, before.st_mtim};
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), times, 0) == 0);
    struct stat after = kache::test::stat_of(p);
    REQUIRE(after.st_size == before.st_size);
    REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
}

bool mentions(const store::CheckReport& r, const std::string& text) {
    for (auto& p : r.problems)
        if (p.what.find(text) != std::string::npos) return true;
    return false;
}

} // namespace

TEST_CASE("verify: a sound store has no problems", "[store][verify]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    auto b = put(s, kache::test::random_bytes(300000, 1));
    REQUIRE(s.write_entry(entry_with("alpha", b, 1)));
    auto r = store::check_store(s, opts(true, false));
    CHECK(r.problems.empty());
    CHECK(r.blobs_read == 1);
    CHECK(r.bytes_read == 300000);
    CHECK(r.entries == 1);
    REQUIRE(store::blob_is_intact(s, b));
    CHECK(*store::blob_is_intact(s, b));
}

TEST_CASE("verify: bit rot with an intact stamp is found only by re-reading, and repaired", "[store][verify]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    auto bad = put(s, kache::test::random_bytes(200000, 2));
    auto good = put(s, kache::test::random_bytes(1000, 3));
    REQUIRE(s.write_entry(entry_with("rotten", bad, 1)));
    REQUIRE(s.write_entry(entry_with("fine", good, 2)));
    rot_keeping_stamp(s.blob_path(bad));

    // Without re-reading the blobs, nothing looks wrong.
    auto quick = store::check_store(s, opts(false, false));
    CHECK(quick.problems.empty());
    CHECK(quick.blobs_read == 0);

    auto found = store::check_store(s, opts(true, false));
    REQUIRE(found.problems.size() == 2); // the blob, and the entry that names it
    CHECK(mentions(found, "blob " + bad.hex() + " is corrupt"));
    CHECK(mentions(found, "of rotten names corrupt blob " + bad.hex()));
    for (auto& p : found.problems) {
        CHECK_FALSE(p.repaired);
        CHECK(p.fix.find("--repair") != std::string::npos);
    }
    CHECK(fs::exists(s.blob_path(bad))); // reporting changes nothing

    auto repaired = store::check_store(s, opts(true, true));
    REQUIRE(repaired.problems.size() == 2);
    for (auto& p : repaired.problems) CHECK(p.repaired);
    CHECK_FALSE(fs::exists(s.blob_path(bad)));
    CHECK_FALSE(s.has_entry(hash::of("k2-1")));
    CHECK(s.has_entry(hash::of("k2-2")));
    CHECK(s.has_blob(good));

    CHECK(store::check_store(s, opts(true, false)).problems.empty());
}

TEST_CASE("verify: missing blobs, unparseable entries and manifests, odd files", "[store][verify]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    auto gone = put(s, "soon gone");
    REQUIRE(s.write_entry(entry_with("orphaned", gone, 1)));
    ::unlink(s.blob_path(gone).c_str());
    auto broken_entry = s.entry_path(hash::of("broken"));
    write_file(broken_entry, "\n\nnot an entry\n");
    auto broken_manifest = s.manifest_path(hash::of("broken"));
    write_file(broken_manifest, "garbage\n");
    auto stray = s.root() / "blobs" / "zz" / "not-a-digest";
    write_file(stray, "x");
    // A FIFO where a blob belongs must not hang the check.
    auto fifo_digest = hash::of("fifo");
    fs::create_directories(s.blob_path(fifo_digest).parent_path());
    REQUIRE(::mkfifo(s.blob_path(fifo_digest).c_str(), 0600) == 0);

    auto r = store::check_store(s, opts(true, false));
    CHECK(mentions(r, "names missing blob " + gone.hex()));
    CHECK(mentions(r, "entry " + broken_entry.string() + " is unreadable"));
    CHECK(mentions(r, "manifest " + broken_manifest.string() + " is unreadable"));
    CHECK(mentions(r, "unexpected file " + stray.string()));
    CHECK(mentions(r, "blob " + fifo_digest.hex() + " is corrupt: it is not a regular file"));
    CHECK(r.problems.size() == 5);

    auto fixed = store::check_store(s, opts(true, true));
    CHECK(fixed.problems.size() == 5);
    CHECK(store::check_store(s, opts(true, false)).problems.empty());
    CHECK_FALSE(fs::exists(broken_entry));
    CHECK_FALSE(fs::exists(broken_manifest));
    CHECK_FALSE(fs::exists(stray));
}

TEST_CASE("verify: remove_corrupt_blob takes the entries that name it", "[store][verify]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    auto bad = put(s, "bad bytes");
    auto other = put(s, "other bytes");
    REQUIRE(s.write_entry(entry_with("one", bad, 1)));
    REQUIRE(s.write_entry(entry_with("two", other, 2)));
    auto crates = store::remove_corrupt_blob(s, bad);
    REQUIRE(crates.size() == 1);
    CHECK(crates[0] == "one");
    CHECK_FALSE(s.has_blob(bad));
    CHECK_FALSE(s.has_entry(hash::of("k2-1")));
    CHECK(s.has_entry(hash::of("k2-2")));
}

TEST_CASE("verify: blob_is_intact stops when asked", "[store][verify]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    auto b = put(s, kache::test::random_bytes(3 << 20, 4));
    int chunks = 0;
    auto r = store::blob_is_intact(s, b, [&](std::uint64_t) { return ++chunks < 2; });
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::timeout);
    CHECK(chunks == 2);
    CHECK(store::blob_is_intact(s, hash::of("absent")).error().kind == ErrorKind::not_found);
}
