// kache::key: user data that looks like the sentinel syntax (escaped, so that
// normalize/expand is a bijection), and the re-check of K1's files after a
// compile (stamps incl. ctime); the stat cache's racy window counts the ctime.
#include <kache/key.hpp>

#include "core_test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <random>

using namespace kache;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

key::PathMap sample_map() {
    return key::PathMap({{"tmp", "/tmp"},
                         {"cwd", "/tmp/wl2"},
                         {"target", "/tmp/wl2/target"},
                         {"home", "/home/u"},
                         {"cargo", "/home/u/.cargo"}});
}

void check_round_trip(const key::PathMap& m, const std::string& text) {
    INFO("text: " << text);
    std::string n = m.normalize(text);
    INFO("normalized: " << n);
    CHECK(m.expand(n) == text);
    CHECK(m.expand_json(m.normalize_json(text)) == text);
}

} // namespace

TEST_CASE("key: a sentinel look-alike in user data is escaped", "[key][paths][sentinel]") {
    auto m = sample_map();
    // A file named like a sentinel is not the tmp root.
    std::string brace = m.normalize("leaf/src/{{kache:tmp}}.txt");
    CHECK(brace != "leaf/src/{{kache:tmp}}.txt");
    CHECK(brace == "leaf/src/{{kache:}}kache:tmp}}.txt");
    CHECK(m.expand(brace) == "leaf/src/{{kache:tmp}}.txt");
    CHECK(m.expand(m.normalize("leaf/src/tmp.txt")) == "leaf/src/tmp.txt");
    // Two different texts never normalize alike.
    CHECK(m.normalize("{{kache:cwd}}") != m.normalize("/tmp/wl2"));
    CHECK(m.normalize("{{kache:cwd}}/x") != m.normalize("/tmp/wl2/x"));
    CHECK(m.normalize("{{kache:}}") != m.normalize("{{"));
    // A real root next to a look-alike.
    CHECK(m.normalize("{{kache:cwd}}/tmp/wl2/src") == "{{kache:}}kache:cwd}}/tmp/wl2/src");
    CHECK(m.normalize("x={{kache:home}} /tmp/wl2/src") == "x={{kache:}}kache:home}} {{kache:cwd}}/src");
}

TEST_CASE("key: escape keeps text raw with only the sentinel syntax escaped", "[key][paths][sentinel]") {
    auto m = sample_map();
    CHECK(key::PathMap::escape("/tmp/wl2/src") == "/tmp/wl2/src");
    CHECK(key::PathMap::escape("{{kache:cwd}}") == "{{kache:}}kache:cwd}}");
    CHECK(m.expand(key::PathMap::escape("{{kache:cwd}}/tmp/wl2")) == "{{kache:cwd}}/tmp/wl2");
    // Without roots, normalize is escape.
    CHECK(key::PathMap().normalize("a {{kache:x}} b") == key::PathMap::escape("a {{kache:x}} b"));
}

TEST_CASE("key: expand keeps a sentinel of a root this machine lacks", "[key][paths][sentinel]") {
    key::PathMap m(std::vector<key::Root>{{"cwd", "/w"}});
    CHECK(m.expand("{{kache:target}}/debug {{kache:cwd}}/src") == "{{kache:target}}/debug /w/src");
    CHECK(m.expand("{{kache:cwd") == "{{kache:cwd");     // unterminated
    CHECK(m.expand("{{kache:{{kache:cwd}}") == "{{kache:/w");
}

TEST_CASE("key: normalize/expand round trip on adversarial and random text", "[key][paths][sentinel]") {
    auto m = sample_map();
    for (const char* t : {"", "{{", "}}", "{{kache:", "{{kache:}}", "{{kache:}}kache:", "{{kache:cwd}}",
                          "{{kache:cwd}}}}", "{{{{kache:cwd}}", "{{kache:{{kache:tmp}}}}", "{{kache:nope}}",
                          "/tmp/wl2{{kache:cwd}}", "{{kache:/tmp/wl2/x", "{{/tmp/wl2}}", "a}}/tmp/wl2",
                          "{{kache:}}/tmp", "/tmp/wl2/{{kache:}}{{kache:tmp}}", "{\"p\":\"{{kache:cwd}}/a\"}"})
        check_round_trip(m, t);
    // Random strings over the alphabet that matters.
    const std::vector<std::string> atoms = {"{{", "}}", "{", "}", "kache:", "{{kache:", "cwd", "tmp", "/tmp",
                                            "/tmp/wl2", "/home/u", "/", "=", " ", "x", ":", ".", "\"", "\\"};
    std::mt19937 rng(20261206);
    for (int i = 0; i < 3000; ++i) {
        std::string t;
        int n = static_cast<int>(rng() % 10);
        for (int j = 0; j < n; ++j) t += atoms[rng() % atoms.size()];
        check_round_trip(m, t);
    }
}

TEST_CASE("key: the recipe changed with the escaping", "[key][sentinel]") {
    CHECK(key::k_recipe != "kache-recipe-1");
}

// ---- K1's files, re-checked after the compile ----

TEST_CASE("key: changed_file_input notices a replaced or rewritten file", "[key][recheck]") {
    TempDir dir;
    fs::path f = dir / "libfoo.a";
    write_file(f, "!<arch>\nv1");
    auto st = util::stamp(f);
    REQUIRE(st);
    std::vector<key::FileInput> files{{f, *st, true}};
    CHECK_FALSE(key::changed_file_input(files));

    SECTION("rewritten in place, mtime put back: only the ctime tells") {
        ::usleep(20'000);
        write_file(f, "!<arch>\nv2");
        struct timespec times[2] = {{0, UTIME_OMIT}, {st->mtime_ns / 1'000'000'000, st->mtime_ns % 1'000'000'000}};
        REQUIRE(::utimensat(AT_FDCWD, f.c_str(), times, 0) == 0);
        auto now = util::stamp(f);
        REQUIRE(now);
        REQUIRE(now->mtime_ns == st->mtime_ns);
        REQUIRE(now->size == st->size);
        CHECK(key::changed_file_input(files) == f);
        // An --extern is compared without its ctime (kache's own links move it).
        files[0].check_ctime = false;
        CHECK_FALSE(key::changed_file_input(files));
    }
    SECTION("replaced by another file") {
        write_file(dir / "other", "!<arch>\nv2");
        fs::rename(dir / "other", f);
        CHECK(key::changed_file_input(files) == f);
    }
    SECTION("removed") {
        fs::remove(f);
        CHECK(key::changed_file_input(files) == f);
    }
}

TEST_CASE("key: invocation_key keeps the stamps of the files it hashed", "[key][recheck]") {
    TempDir dir;
    write_file(dir / "src" / "lib.rs", "pub fn f() {}\n");
    write_file(dir / "native" / "libfoo.a", "!<arch>\nfoo v1");
    write_file(dir / "deps" / "libdep-1.rlib", "dep rlib");
    std::vector<std::string> args = {"--crate-name", "foo", "--edition=2021", "src/lib.rs", "--crate-type", "lib",
                                     "--emit=dep-info,metadata,link", "-L", "native=native", "-l", "static=foo",
                                     "--extern", "dep=" + (dir / "deps" / "libdep-1.rlib").string()};
    auto inv = rustc::parse(args, dir.path());
    REQUIRE(inv);
    key::KeyContext ctx;
    ctx.compiler_identity = "c";
    ctx.cwd = dir.path();
    hash::FileHashCache hashes(dir / "hc", dir.path());
    auto k = key::invocation_key(*inv, ctx, key::roots_for(*inv, dir.path()), hashes);
    REQUIRE(k);
    REQUIRE(k->files.size() == 2);
    bool saw_archive = false, saw_extern = false;
    for (auto& f : k->files) {
        if (f.path == dir / "native" / "libfoo.a") saw_archive = f.check_ctime;
        if (f.path == dir / "deps" / "libdep-1.rlib") saw_extern = !f.check_ctime;
    }
    CHECK(saw_archive);
    CHECK(saw_extern);
    CHECK_FALSE(key::changed_file_input(k->files));
    write_file(dir / "native" / "libfoo.a", "!<arch>\nfoo v2");
    CHECK(key::changed_file_input(k->files) == dir / "native" / "libfoo.a");
}

TEST_CASE("hash: a fresh ctime keeps a digest out of the stat cache", "[hash][hashcache]") {
    TempDir dir;
    fs::create_directories(dir / "tmp");
    hash::FileHashCache cache(dir / "cache", dir / "tmp");
    fs::path big = dir / "big.txt";
    write_file(big, kache::test::random_bytes(100 * 1024, 5));
    // An old mtime, but the ctime is now (the write and the utimensat itself).
    struct timespec times[2] = {{0, UTIME_OMIT}, {1'500'000'000, 0}};
    REQUIRE(::utimensat(AT_FDCWD, big.c_str(), times, 0) == 0);
    auto d = cache.digest_stamped(big);
    REQUIRE(d);
    CHECK(d->stamp.mtime_ns == 1'500'000'000LL * 1'000'000'000);
    std::error_code ec;
    CHECK_FALSE(fs::exists(dir / "cache", ec)); // nothing remembered
}
