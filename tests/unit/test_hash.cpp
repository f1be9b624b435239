// kache::hash: digests, hex, the streaming hasher, of_file and the stat-keyed FileHashCache.
#include <kache/hash.hpp>

#include "core_test_support.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <set>

using namespace kache;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

// These tests age a file's mtime, which leaves its ctime at now: with the real
// racy window (mtime and ctime) nothing would be remembered for two seconds.
constexpr std::chrono::nanoseconds k_no_racy_window{0};

// Sets a file's mtime to `seconds_ago` in the past (the cache does not remember
// files modified within the last couple of seconds).
void age_file(const fs::path& p, int seconds_ago = 3600) {
    struct timespec ts[2];
    ::clock_gettime(CLOCK_REALTIME, &ts[0]);
    ts[0].tv_sec -= seconds_ago;
    ts[1] = ts[0];
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

void set_mtime(const fs::path& p, const struct timespec& mtime) {
    struct timespec ts[2] = {mtime, mtime};
    REQUIRE(::utimensat(AT_FDCWD, p.c_str(), ts, 0) == 0);
}

std::size_t count_files(const fs::path& dir) {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
        if (it->is_regular_file()) ++n;
    return n;
}

} // namespace

TEST_CASE("hash: known XXH3-128 digests are stable", "[hash]") {
    // Reference values of XXH3-128 (canonical, big-endian high64 then low64).
    CHECK(hash::of("").hex() == "99aa06d3014798d86001c324468d497f");
    CHECK(hash::of("abc").hex() == "06b05ab6733a618578af5f94892f3950");

    // And they agree with the library computed independently here.
    std::string data = kache::test::random_bytes(10'000, 7);
    XXH128_hash_t h = XXH3_128bits(data.data(), data.size());
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                  static_cast<unsigned long long>(h.low64));
    CHECK(hash::of(data).hex() == buf);
    CHECK(hash::of("abc") != hash::of("abd"));
}

TEST_CASE("hash: hex round trip and from_hex validation", "[hash]") {
    hash::Digest d = hash::of("round trip");
    std::string hex = d.hex();
    REQUIRE(hex.size() == 32);
    for (char c : hex) CHECK(((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
    auto back = hash::Digest::from_hex(hex);
    REQUIRE(back);
    CHECK(*back == d);

    auto zero = hash::Digest::from_hex("00000000000000000000000000000000");
    REQUIRE(zero);
    CHECK(*zero == hash::Digest{});
    auto ff = hash::Digest::from_hex("ffffffffffffffffffffffffffffffff");
    REQUIRE(ff);
    for (auto b : ff->bytes) CHECK(b == 0xff);
    auto seq = hash::Digest::from_hex("000102030405060708090a0b0c0d0e0f");
    REQUIRE(seq);
    for (int i = 0; i < 16; ++i) CHECK(seq->bytes[i] == i);

    CHECK_FALSE(hash::Digest::from_hex(""));
    CHECK_FALSE(hash::Digest::from_hex(hex.substr(0, 31)));
    CHECK_FALSE(hash::Digest::from_hex(hex + "0"));
    CHECK_FALSE(hash::Digest::from_hex("g0000000000000000000000000000000"));
    CHECK_FALSE(hash::Digest::from_hex("0000000000000000000000000000000z"));
    CHECK_FALSE(hash::Digest::from_hex(" 0000000000000000000000000000000"));
    CHECK_FALSE(hash::Digest::from_hex("0000000000000000-000000000000000"));
}

TEST_CASE("hash: digests order by their bytes", "[hash]") {
    auto a = *hash::Digest::from_hex("00000000000000000000000000000001");
    auto b = *hash::Digest::from_hex("00000000000000000000000000000100");
    auto c = *hash::Digest::from_hex("01000000000000000000000000000000");
    CHECK(a < b);
    CHECK(b < c);
    std::set<hash::Digest> s{c, a, b, a};
    CHECK(s.size() == 3);
    CHECK(*s.begin() == a);
}

TEST_CASE("hash: streaming update equals one-shot of()", "[hash]") {
    std::string data = kache::test::random_bytes(300'000, 3);
    hash::Hasher h;
    h.update(std::string_view(data).substr(0, 1)).update(std::string_view(data).substr(1, 65'536));
    h.update(std::string_view(data).substr(65'537));
    CHECK(h.finish() == hash::of(data));

    hash::Hasher empty;
    CHECK(empty.finish() == hash::of(""));
}

TEST_CASE("hash: Hasher::field separates adjacent fields", "[hash]") {
    auto two = [](std::string_view x, std::string_view y) {
        hash::Hasher h;
        h.field(x).field(y);
        return h.finish();
    };
    CHECK(two("ab", "c") != two("a", "bc"));
    CHECK(two("", "abc") != two("abc", ""));
    CHECK(two("ab", "c") == two("ab", "c"));

    // Plain update does not separate (that is what field is for).
    hash::Hasher u1, u2;
    u1.update("ab").update("c");
    u2.update("a").update("bc");
    CHECK(u1.finish() == u2.finish());

    // Numbers and digests are fields too, and distinct values give distinct digests.
    hash::Hasher n1, n2;
    n1.field(std::uint64_t{1}).field("x");
    n2.field(std::uint64_t{2}).field("x");
    CHECK(n1.finish() != n2.finish());
    hash::Hasher d1, d2;
    d1.field(hash::of("a"));
    d2.field(hash::of("b"));
    CHECK(d1.finish() != d2.finish());
}

TEST_CASE("hash: of_file equals of(contents)", "[hash]") {
    TempDir dir;
    for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{131'072},
                             std::size_t{131'073}, std::size_t{1'000'003}}) {
        std::string data = kache::test::random_bytes(size, static_cast<unsigned>(size));
        fs::path p = dir / ("f" + std::to_string(size));
        write_file(p, data);
        auto d = hash::of_file(p);
        REQUIRE(d);
        CHECK(*d == hash::of(data));
    }
    auto missing = hash::of_file(dir / "missing");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
}

TEST_CASE("hash: FileHashCache agrees with of_file", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);

    fs::path small = dir / "small";
    fs::path big = dir / "big";
    write_file(small, "tiny file");
    write_file(big, kache::test::random_bytes(200'000, 11));
    age_file(big);

    for (int round = 0; round < 2; ++round) { // second round is served from the cache
        auto s = cache.digest(small);
        REQUIRE(s);
        CHECK(*s == *hash::of_file(small));
        auto b = cache.digest(big);
        REQUIRE(b);
        CHECK(*b == *hash::of_file(big));
    }
    // The large, settled file got an entry; the small one is never cached.
    CHECK(count_files(dir / "cache") == 1);

    auto missing = cache.digest(dir / "missing");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
}

TEST_CASE("hash: FileHashCache notices a same-size rewrite", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);
    fs::path big = dir / "big.rlib";
    const std::size_t size = 100 * 1024;
    REQUIRE(size > hash::FileHashCache::k_min_cached_size);

    std::string v1 = kache::test::random_bytes(size, 1);
    write_file(big, v1);
    age_file(big, 7200);
    auto d1 = cache.digest(big);
    REQUIRE(d1);
    CHECK(*d1 == hash::of(v1));
    REQUIRE(count_files(dir / "cache") == 1); // remembered

    SECTION("mtime and ctime move") {
        std::string v2 = kache::test::random_bytes(size, 2);
        write_file(big, v2); // same inode, same size, new mtime
        auto d2 = cache.digest(big);
        REQUIRE(d2);
        CHECK(*d2 == hash::of(v2));
        CHECK(*d2 != *d1);
    }
    SECTION("mtime restored, only ctime moves") {
        struct stat before = kache::test::stat_of(big);
        std::string v2 = v1;
        v2[size / 2] ^= 0x5a;
        ::usleep(20'000); // let the clock move past the ctime of the last write
        write_file(big, v2);
        set_mtime(big, before.st_mtim); // someone resets the mtime; the ctime still moves
        struct stat after = kache::test::stat_of(big);
        REQUIRE(after.st_mtim.tv_sec == before.st_mtim.tv_sec);
        REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
        REQUIRE(after.st_size == before.st_size);
        REQUIRE(after.st_ino == before.st_ino);
        auto d2 = cache.digest(big);
        REQUIRE(d2);
        CHECK(*d2 == hash::of(v2));
    }
    SECTION("the file is replaced by another one (new inode)") {
        std::string v2 = kache::test::random_bytes(size, 3);
        write_file(dir / "other", v2);
        struct stat before = kache::test::stat_of(big);
        set_mtime(dir / "other", before.st_mtim);
        fs::rename(dir / "other", big);
        auto d2 = cache.digest(big);
        REQUIRE(d2);
        CHECK(*d2 == hash::of(v2));
    }
}

TEST_CASE("hash: FileHashCache serves remembered digests", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);

    fs::path big = dir / "big";
    std::string data = kache::test::random_bytes(80 * 1024, 5);
    write_file(big, data);
    age_file(big);

    // A digest that is not the content's: if digest() returns it, it came from
    // the remembered record and not from reading the file.
    hash::Digest planted = hash::of("something else entirely");
    cache.remember(big, planted);
    auto got = cache.digest(big);
    REQUIRE(got);
    CHECK(*got == planted);

    // A second cache instance over the same directory sees the record too.
    hash::FileHashCache again(dir / "cache", dir / "tmp");
    auto got2 = again.digest(big);
    REQUIRE(got2);
    CHECK(*got2 == planted);

    // Once the file changes the record no longer applies.
    std::string changed = kache::test::random_bytes(80 * 1024, 6);
    write_file(big, changed);
    auto got3 = cache.digest(big);
    REQUIRE(got3);
    CHECK(*got3 == hash::of(changed));

    // Small files are always read, never taken from a record.
    fs::path small = dir / "small";
    write_file(small, "small content");
    age_file(small);
    cache.remember(small, planted);
    auto s = cache.digest(small);
    REQUIRE(s);
    CHECK(*s == hash::of("small content"));
}

TEST_CASE("hash: FileHashCache keeps one record per file", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);
    std::string a = kache::test::random_bytes(70 * 1024, 8);
    std::string b = kache::test::random_bytes(70 * 1024, 9);
    write_file(dir / "a", a);
    write_file(dir / "b", b);
    age_file(dir / "a");
    age_file(dir / "b");
    auto da = cache.digest(dir / "a");
    auto db = cache.digest(dir / "b");
    REQUIRE(da);
    REQUIRE(db);
    CHECK(*da == hash::of(a));
    CHECK(*db == hash::of(b));
    // Served from the records, each still the right one.
    CHECK(*cache.digest(dir / "a") == hash::of(a));
    CHECK(*cache.digest(dir / "b") == hash::of(b));

    // A corrupt record only costs a rehash.
    for (auto it = fs::recursive_directory_iterator(dir / "cache"); it != fs::recursive_directory_iterator(); ++it)
        if (it->is_regular_file()) write_file(it->path(), "garbage");
    CHECK(*cache.digest(dir / "a") == hash::of(a));
    CHECK(*cache.digest(dir / "b") == hash::of(b));
}

TEST_CASE("hash: FileHashCache for blobs ignores only the ctime", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);
    fs::path blob = dir / "blob";
    std::string v1 = kache::test::random_bytes(90 * 1024, 21);
    write_file(blob, v1);
    age_file(blob, 7200);
    REQUIRE(cache.digest(blob, true));

    // A hardlink made and removed (what restoring and `cargo clean` do) moves
    // the ctime only: the remembered digest still serves, with no rehash.
    hash::Digest planted = hash::of("planted");
    cache.remember(blob, planted);
    fs::create_hard_link(blob, dir / "out.rlib");
    fs::remove(dir / "out.rlib");
    CHECK(*cache.digest(blob, true) == planted);
    CHECK(*cache.digest(blob, false) == hash::of(v1)); // the strict form rehashes

    // A write in place moves the mtime: detected even when ignoring the ctime.
    cache.remember(blob, planted);
    std::string v2 = v1;
    v2[100] ^= 0x11;
    ::usleep(20'000);
    write_file(blob, v2);
    CHECK(*cache.digest(blob, true) == hash::of(v2));
}

TEST_CASE("hash: FileHashCache's in-process answers follow a same-size rewrite of a small file",
          "[hash][hashcache]") {
    // A small file is hashed directly; the cache answers a second look-up in the
    // same process from memory, which must still see a rewrite that kept the
    // size and put the mtime back (only the ctime moves).
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);
    fs::path small = dir / "lib.rs";
    std::string v1 = "pub fn f() -> u32 { 1 }\n";
    REQUIRE(v1.size() < hash::FileHashCache::k_min_cached_size);
    write_file(small, v1);
    age_file(small, 7200);
    auto d1 = cache.digest(small);
    REQUIRE(d1);
    CHECK(*d1 == hash::of(v1));
    auto again = cache.digest(small); // unchanged: the same answer
    REQUIRE(again);
    CHECK(*again == *d1);

    struct stat before = kache::test::stat_of(small);
    std::string v2 = "pub fn f() -> u32 { 2 }\n";
    ::usleep(20'000);
    write_file(small, v2);
    set_mtime(small, before.st_mtim);
    struct stat after = kache::test::stat_of(small);
    REQUIRE(after.st_size == before.st_size);
    REQUIRE(after.st_ino == before.st_ino);
    REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
    auto d2 = cache.digest(small);
    REQUIRE(d2);
    CHECK(*d2 == hash::of(v2));
    CHECK(*d2 != *d1);
}

TEST_CASE("hash: a file written between its stat and its read is not paired with the old stamp",
          "[hash][hashcache]") {
    // The recorder stats an input, checks that stamp against the compile's start, and
    // records the digest: new bytes under the old stamp would pass for "unchanged" and
    // be served for the old outputs.
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp", k_no_racy_window);
    for (std::size_t size : {std::size_t(100), std::size_t(100 * 1024)}) {
        INFO("size " << size);
        fs::path f = dir / ("src" + std::to_string(size) + ".rs");
        write_file(f, kache::test::random_bytes(size, 1));
        age_file(f, 7200);
        auto st = util::stamp(f);
        REQUIRE(st);
        ::usleep(20'000);
        const std::string v2 = kache::test::random_bytes(size, 2);
        write_file(f, v2); // the write lands after the stat, before the read
        auto d = cache.digest_under(f, *st);
        REQUIRE_FALSE(d);
        CHECK(d.error().kind == ErrorKind::conflict);
        // Under the stamp it has now, the file reads as what it holds.
        auto now = util::stamp(f);
        REQUIRE(now);
        auto d2 = cache.digest_under(f, *now);
        REQUIRE(d2);
        CHECK(*d2 == hash::of(v2));
    }
}
