// kache::store: layout, blobs, entries and manifests (text forms included),
// restore, corruption handling, usage, purge and per-key locks.
#include <kache/store.hpp>

#include "core_test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

using namespace kache;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;
using kache::test::open_store;

namespace {

std::uint32_t mode_of(const fs::path& p) { return kache::test::stat_of(p).st_mode & 07777; }

store::Entry sample_entry(store::Store& s) {
    store::Entry e;
    e.crate = "serde";
    e.version = "1.0.152";
    e.k1 = hash::of("k1");
    e.k2 = hash::of("k2");
    auto rlib = s.put_blob("rlib bytes");
    auto dep = s.put_blob("{{kache:cwd}}/src/lib.rs:\n");
    auto err = s.put_blob("warning: unused\n");
    REQUIRE(rlib);
    REQUIRE(dep);
    REQUIRE(err);
    e.outputs.push_back({"libserde-0d7b.rlib", *rlib, 10, 0644, false});
    e.outputs.push_back({"serde-0d7b.d", *dep, 26, 0644, true});
    e.outputs.push_back({"odd name with spaces\tand tab", *rlib, 10, 0755, false});
    e.stderr_blob = *err;
    e.created_ms = 1'700'000'000'123;
    e.compile_ms = 4567;
    return e;
}

void check_same_entry(const store::Entry& a, const store::Entry& b) {
    CHECK(a.crate == b.crate);
    CHECK(a.version == b.version);
    CHECK(a.k1 == b.k1);
    CHECK(a.k2 == b.k2);
    CHECK(a.stdout_blob == b.stdout_blob);
    CHECK(a.stderr_blob == b.stderr_blob);
    CHECK(a.created_ms == b.created_ms);
    CHECK(a.compile_ms == b.compile_ms);
    CHECK(a.exit_code == b.exit_code);
    REQUIRE(a.outputs.size() == b.outputs.size());
    for (size_t i = 0; i < a.outputs.size(); ++i) {
        CHECK(a.outputs[i].name == b.outputs[i].name);
        CHECK(a.outputs[i].blob == b.outputs[i].blob);
        CHECK(a.outputs[i].size == b.outputs[i].size);
        CHECK(a.outputs[i].mode == b.outputs[i].mode);
        CHECK(a.outputs[i].dep_info == b.outputs[i].dep_info);
    }
}

// Replaces the first occurrence of from in s.
std::string replace_once(std::string s, const std::string& from, const std::string& to) {
    auto pos = s.find(from);
    REQUIRE(pos != std::string::npos);
    s.replace(pos, from.size(), to);
    return s;
}

key::InputSet input_set(const std::string& tag, std::int64_t created) {
    key::InputSet s;
    s.files = {{"{{kache:cwd}}/src/lib.rs", hash::of(tag)}, {"{{kache:cwd}}/src/with space.rs", hash::of("x")}};
    s.env = {{"OUT_DIR", "{{kache:target}}/out " + tag}, {"UNSET", std::nullopt}, {"EMPTY", ""}};
    s.created_ms = created;
    return s;
}

// Makes a blob writable and flips one byte in it.
void corrupt_file(const fs::path& p) {
    REQUIRE(::chmod(p.c_str(), 0644) == 0); // chmod u+w
    int fd = ::open(p.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c = 0;
    REQUIRE(::pread(fd, &c, 1, 0) == 1);
    c = static_cast<char>(c ^ 0x20);
    REQUIRE(::pwrite(fd, &c, 1, 0) == 1);
    ::close(fd);
}

} // namespace

TEST_CASE("store: open creates the layout", "[store]") {
    TempDir dir;
    fs::path root = dir / "cache" / "kache";
    auto s = open_store(root);
    CHECK(s.root() == root);
    for (const char* sub : {"blobs", "manifests", "entries", "locks", "upload-queue", "events", "tmp"}) {
        INFO(sub);
        CHECK(fs::is_directory(root / sub));
    }
    CHECK(s.tmp_dir() == root / "tmp");
    CHECK(s.events_dir() == root / "events");
    // Paths are sharded by the first two hex digits.
    auto d = hash::of("x");
    CHECK(s.blob_path(d) == root / "blobs" / d.hex().substr(0, 2) / d.hex().substr(2));
    CHECK(s.entry_path(d) == root / "entries" / d.hex().substr(0, 2) / d.hex().substr(2));
    CHECK(s.manifest_path(d) == root / "manifests" / d.hex().substr(0, 2) / d.hex().substr(2));

    // Opening again is fine; a relative root is a configuration error.
    CHECK(store::Store::open(root).has_value());
    auto rel = store::Store::open("relative/cache");
    REQUIRE_FALSE(rel);
    CHECK(rel.error().kind == ErrorKind::config);
    CHECK_FALSE(store::Store::open("").has_value());
}

TEST_CASE("store: put_blob stores content once, read-only", "[store][blob]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto a = s.put_blob("hello blob");
    REQUIRE(a);
    CHECK(*a == hash::of("hello blob"));
    auto b = s.put_blob("hello blob");
    REQUIRE(b);
    CHECK(*b == *a);
    CHECK(s.usage().blobs == 1);
    CHECK(s.has_blob(*a));
    CHECK(kache::test::read_file(s.blob_path(*a)) == "hello blob");
    CHECK(mode_of(s.blob_path(*a)) == 0400);

    auto c = s.put_blob("other blob");
    REQUIRE(c);
    CHECK(*c != *a);
    CHECK(s.usage().blobs == 2);
    CHECK(s.usage().blob_bytes == 20);

    auto empty = s.put_blob("");
    REQUIRE(empty);
    CHECK(s.has_blob(*empty));
    auto back = s.read_blob(*empty);
    REQUIRE(back);
    CHECK(back->empty());
    CHECK_FALSE(s.has_blob(hash::of("never stored")));
}

TEST_CASE("store: storing a blob again replaces a copy that rotted in place", "[store][blob]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    // Same size, one byte changed, as bit rot or a write through a link would leave it.
    auto rot = [](const fs::path& p) {
        ::chmod(p.c_str(), 0600);
        std::string text = kache::test::read_file(p);
        text[text.size() / 2] ^= 0x20;
        kache::test::write_file(p, text);
    };
    const std::string text(100 * 1024, 'k'); // over the digest cache's threshold too
    auto a = s.put_blob(text);
    REQUIRE(a);
    rot(s.blob_path(*a));
    REQUIRE(s.put_blob(text));
    CHECK(kache::test::read_file(s.blob_path(*a)) == text);

    kache::test::write_file(dir / "out.rlib", "an output file's bytes");
    auto b = s.put_blob_file(dir / "out.rlib", store::Placement::copy_only);
    REQUIRE(b);
    rot(s.blob_path(*b));
    REQUIRE(s.put_blob_file(dir / "out.rlib", store::Placement::copy_only));
    CHECK(kache::test::read_file(s.blob_path(*b)) == "an output file's bytes");
    CHECK(s.holds(s.blob_path(*b), *b));
}

TEST_CASE("store: put_blob_file links or copies", "[store][blob]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    const std::string content = kache::test::random_bytes(50'000, 4);

    SECTION("allow_link shares the inode") {
        fs::path src = dir / "out" / "libx.rlib";
        write_file(src, content);
        auto d = s.put_blob_file(src, store::Placement::allow_link);
        REQUIRE(d);
        CHECK(*d == hash::of(content));
        auto blob = kache::test::stat_of(s.blob_path(*d));
        auto orig = kache::test::stat_of(src);
        CHECK(blob.st_ino == orig.st_ino);
        CHECK(orig.st_nlink == 2);
        CHECK(kache::test::read_file(src) == content); // the source is untouched
    }
    SECTION("a linked executable keeps its mode (rustc compiles over it later)") {
        fs::path src = dir / "out" / "app-0123";
        write_file(src, content);
        ::chmod(src.c_str(), 0755);
        auto d = s.put_blob_file(src, store::Placement::allow_link);
        REQUIRE(d);
        CHECK(kache::test::stat_of(s.blob_path(*d)).st_ino == kache::test::stat_of(src).st_ino);
        CHECK(mode_of(src) == 0755); // rustc refuses to write over an output without write bits
    }
    SECTION("copy_only makes a separate read-only file") {
        fs::path src = dir / "out" / "app";
        write_file(src, content);
        ::chmod(src.c_str(), 0755);
        auto d = s.put_blob_file(src, store::Placement::copy_only);
        REQUIRE(d);
        CHECK(*d == hash::of(content));
        auto blob = kache::test::stat_of(s.blob_path(*d));
        auto orig = kache::test::stat_of(src);
        CHECK(blob.st_ino != orig.st_ino);
        CHECK(orig.st_nlink == 1);
        CHECK((blob.st_mode & 07777) == 0400);
        CHECK(mode_of(src) == 0755); // the source keeps its mode
        CHECK(kache::test::read_file(s.blob_path(*d)) == content);

        // Writing the source in place later cannot reach the blob.
        write_file(src, "rewritten");
        CHECK(kache::test::read_file(s.blob_path(*d)) == content);
    }
    SECTION("the same content twice is one blob") {
        write_file(dir / "a", content);
        write_file(dir / "b", content);
        auto da = s.put_blob_file(dir / "a", store::Placement::copy_only);
        auto db = s.put_blob_file(dir / "b", store::Placement::allow_link);
        REQUIRE(da);
        REQUIRE(db);
        CHECK(*da == *db);
        CHECK(s.usage().blobs == 1);
        CHECK(kache::test::stat_of(dir / "b").st_nlink == 1); // the dedup dropped the staged link
    }
    SECTION("a missing source is an error and leaves no garbage") {
        auto d = s.put_blob_file(dir / "missing", store::Placement::copy_only);
        REQUIRE_FALSE(d);
        CHECK(d.error().kind == ErrorKind::not_found);
        CHECK(fs::is_empty(s.tmp_dir()));
    }
    // Staging files never outlive a call.
    CHECK(fs::is_empty(s.tmp_dir()));
}

TEST_CASE("store: entries round trip", "[store][entry]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto e = sample_entry(s);

    auto parsed = store::parse_entry(store::serialize_entry(e));
    REQUIRE(parsed);
    check_same_entry(e, *parsed);
    CHECK(parsed->total_size() == 46);

    REQUIRE(s.write_entry(e));
    CHECK(s.has_entry(e.k2));
    auto read = s.read_entry(e.k2);
    REQUIRE(read);
    check_same_entry(e, *read);

    // A recorded failure: exit code, no outputs, no version, empty crate.
    store::Entry failed;
    failed.k1 = hash::of("f1");
    failed.k2 = hash::of("f2");
    failed.exit_code = 101;
    failed.stdout_blob = hash::of("out");
    auto pf = store::parse_entry(store::serialize_entry(failed));
    REQUIRE(pf);
    check_same_entry(failed, *pf);
    CHECK(pf->exit_code == 101);
    REQUIRE(s.write_entry(failed));
    auto rf = s.read_entry(failed.k2);
    REQUIRE(rf);
    CHECK(rf->exit_code == 101);

    auto list = s.list_entries();
    CHECK(list.size() == 2);
    CHECK(s.usage().entries == 2);

    REQUIRE(s.remove_entry(e.k2));
    CHECK_FALSE(s.has_entry(e.k2));
    auto gone = s.read_entry(e.k2);
    REQUIRE_FALSE(gone);
    CHECK(gone.error().kind == ErrorKind::not_found);
    CHECK(s.remove_entry(e.k2).has_value()); // removing twice is fine
}

TEST_CASE("store: parse_entry treats its input as untrusted", "[store][entry]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto e = sample_entry(s);
    e.outputs.resize(1);
    const std::string good = store::serialize_entry(e);
    REQUIRE(store::parse_entry(good));
    const std::string name = "libserde-0d7b.rlib";

    auto rejected = [](const std::string& text) {
        auto r = store::parse_entry(text);
        if (r) return false;
        CHECK(r.error().kind == ErrorKind::corrupt);
        return true;
    };

    SECTION("unsafe output names") {
        CHECK(rejected(replace_once(good, " " + name + "\n", " ../x\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " a/b\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " ..\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " .\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " /etc/passwd\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " \n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", "\n")));
        CHECK(rejected(replace_once(good, " " + name + "\n", " " + std::string(256, 'a') + "\n")));
        CHECK_FALSE(rejected(replace_once(good, " " + name + "\n", " ..x\n"))); // just an odd name
        CHECK(store::valid_output_name("libfoo.rlib"));
        CHECK_FALSE(store::valid_output_name(""));
        CHECK_FALSE(store::valid_output_name(".."));
        CHECK_FALSE(store::valid_output_name("a/b"));
        CHECK_FALSE(store::valid_output_name(std::string("a\0b", 3)));
    }
    SECTION("truncation") {
        CHECK(rejected(""));
        CHECK(rejected(replace_once(good, "end\n", "")));
        // Every cut that loses the final "end" line is rejected.
        for (size_t n = 0; n + 1 < good.size(); ++n) {
            INFO("cut at " << n);
            CHECK(rejected(good.substr(0, n)));
        }
        CHECK(rejected(replace_once(good, "k1 " + e.k1.hex() + "\n", "")));
        CHECK(rejected(replace_once(good, "k2 " + e.k2.hex() + "\n", "")));
    }
    SECTION("bad hex and numbers") {
        std::string k1 = e.k1.hex();
        CHECK(rejected(replace_once(good, "k1 " + k1, "k1 " + k1.substr(0, 31) + "z")));
        CHECK(rejected(replace_once(good, "k1 " + k1, "k1 " + k1.substr(1))));
        std::string blob = e.outputs[0].blob.hex();
        CHECK(rejected(replace_once(good, "out " + blob, "out " + blob.substr(0, 30) + "XY")));
        CHECK(rejected(replace_once(good, "stderr " + e.stderr_blob->hex(), "stderr nothex")));
        CHECK(rejected(replace_once(good, " 644 10 ", " 698 10 ")));  // not octal
        CHECK(rejected(replace_once(good, " 644 10 ", " 644 -1 ")));
        CHECK(rejected(replace_once(good, " 644 10 ", " 644 10x ")));
        CHECK(rejected(replace_once(good, " 644 10 ", " 177777 10 ")));
        CHECK(rejected(replace_once(good, " file ", " link ")));
        CHECK(rejected(replace_once(good, "compile_ms 4567", "compile_ms soon")));
        CHECK(rejected(replace_once(good, "kache-entry 1", "kache-entry 2")));
        CHECK(rejected(replace_once(good, "end\n", "surprise line\nend\n")));
        CHECK(rejected(replace_once(good, "end\n", "exit 300\nend\n")));
    }
    SECTION("empty and blank lines") {
        // Each after the header, in the middle and just before "end": corrupt, never a crash.
        for (std::string bad : {"", " ", "  ", "\t", "\r", "k1", "out", "end extra"}) {
            INFO("line '" << bad << "'");
            CHECK(rejected(replace_once(good, "kache-entry 1\n", "kache-entry 1\n" + bad + "\n")));
            CHECK(rejected(replace_once(good, "end\n", bad + "\nend\n")));
        }
        CHECK(rejected("kache-entry 1\n\n"));
        CHECK(rejected("kache-entry 1\n\n\nend\n"));
        CHECK(rejected(std::string("kache-entry 1\n\0\nend\n", 19)));
    }
    SECTION("duplicate outputs") {
        std::string line = good.substr(good.find("out "));
        line = line.substr(0, line.find('\n') + 1);
        CHECK(rejected(replace_once(good, line, line + line)));
    }
    SECTION("a failed compile cannot carry outputs") {
        CHECK(rejected(replace_once(good, "end\n", "exit 1\nend\n")));
    }
    SECTION("special mode bits are dropped") {
        auto r = store::parse_entry(replace_once(good, " 644 10 ", " 4755 10 "));
        REQUIRE(r);
        CHECK(r->outputs[0].mode == 0755);
    }
}

TEST_CASE("store: read_entry checks the key it was stored under", "[store][entry]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto e = sample_entry(s);
    REQUIRE(s.write_entry(e));
    auto other = hash::of("another k2");
    fs::create_directories(s.entry_path(other).parent_path());
    fs::copy_file(s.entry_path(e.k2), s.entry_path(other));
    auto r = s.read_entry(other);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);

    // An unreadable entry is skipped by list_entries.
    write_file(s.entry_path(hash::of("garbage")), "not an entry");
    auto g = s.read_entry(hash::of("garbage"));
    REQUIRE_FALSE(g);
    CHECK(g.error().kind == ErrorKind::corrupt);
    auto list = s.list_entries();
    CHECK(std::count_if(list.begin(), list.end(), [&](const store::Entry& x) { return x.crate == "serde"; }) == 2);
    CHECK(list.size() == 2);
}

TEST_CASE("store: manifests", "[store][manifest]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto k1 = hash::of("invocation");

    auto missing = s.read_manifest(k1);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);

    SECTION("text round trip") {
        store::Manifest m;
        m.sets = {input_set("a", 1), input_set("b\nwith newline", 2)};
        m.sets[1].env.push_back({"TAB", "x\ty\\z"});
        auto parsed = store::parse_manifest(store::serialize_manifest(m));
        REQUIRE(parsed);
        REQUIRE(parsed->sets.size() == 2);
        for (size_t i = 0; i < 2; ++i) {
            CHECK(parsed->sets[i] == m.sets[i]);
            CHECK(parsed->sets[i].created_ms == m.sets[i].created_ms);
            CHECK(parsed->sets[i].digest() == m.sets[i].digest());
        }
        // unset vs empty survive
        CHECK_FALSE(parsed->sets[0].env[1].second.has_value());
        REQUIRE(parsed->sets[0].env[2].second.has_value());
        CHECK(parsed->sets[0].env[2].second->empty());

        std::string text = store::serialize_manifest(m);
        CHECK_FALSE(store::parse_manifest(text.substr(0, text.size() - 4))); // truncated inside a set
        CHECK_FALSE(store::parse_manifest("kache-manifest 2\n"));
        CHECK_FALSE(store::parse_manifest(replace_once(text, "f " + m.sets[0].files[0].digest.hex(), "f nothex")));
        CHECK(store::parse_manifest("kache-manifest 1\n").has_value()); // no sets
    }
    SECTION("empty and blank lines are corrupt") {
        std::string text = store::serialize_manifest(store::Manifest{{input_set("a", 1)}});
        for (std::string bad : {"", " ", "\t", "set", "end", "end extra", "f", "v", "e"}) {
            INFO("line '" << bad << "'");
            for (std::string at : {"kache-manifest 1\n", "end\n"}) {
                auto r = store::parse_manifest(replace_once(text, at, at + bad + "\n"));
                REQUIRE_FALSE(r);
                CHECK(r.error().kind == ErrorKind::corrupt);
            }
        }
    }
    SECTION("add_input_set keeps newest first and dedups") {
        auto a = input_set("a", 1), b = input_set("b", 2), c = input_set("c", 3);
        REQUIRE(s.add_input_set(k1, a));
        REQUIRE(s.add_input_set(k1, b));
        REQUIRE(s.add_input_set(k1, c));
        auto m = s.read_manifest(k1);
        REQUIRE(m);
        REQUIRE(m->sets.size() == 3);
        CHECK(m->sets[0] == c);
        CHECK(m->sets[1] == b);
        CHECK(m->sets[2] == a);

        // An equal set (recorded again later) moves to the front instead of duplicating.
        auto a_again = a;
        a_again.created_ms = 10;
        REQUIRE(s.add_input_set(k1, a_again));
        m = s.read_manifest(k1);
        REQUIRE(m);
        REQUIRE(m->sets.size() == 3);
        CHECK(m->sets[0] == a);
        CHECK(m->sets[0].created_ms == 10);
        CHECK(m->sets[1] == c);
        CHECK(m->sets[2] == b);
        CHECK(s.usage().manifests == 1);
    }
    SECTION("add_input_set caps the number of sets") {
        for (int i = 0; i < 7; ++i) REQUIRE(s.add_input_set(k1, input_set("s" + std::to_string(i), i), 4));
        auto m = s.read_manifest(k1);
        REQUIRE(m);
        REQUIRE(m->sets.size() == 4);
        CHECK(m->sets[0] == input_set("s6", 0)); // the newest survive
        CHECK(m->sets[3] == input_set("s3", 0));
    }
    SECTION("a corrupt manifest is replaced") {
        write_file(s.manifest_path(k1), "garbage");
        auto bad = s.read_manifest(k1);
        REQUIRE_FALSE(bad);
        CHECK(bad.error().kind == ErrorKind::corrupt);
        REQUIRE(s.add_input_set(k1, input_set("fresh", 1)));
        auto m = s.read_manifest(k1);
        REQUIRE(m);
        CHECK(m->sets.size() == 1);
    }
}

TEST_CASE("store: restore_file places blobs", "[store][restore]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    const std::string content = kache::test::random_bytes(30'000, 9);
    auto d = s.put_blob(content);
    REQUIRE(d);
    fs::path blob = s.blob_path(*d);
    // Writable by its owner, as a recorded output's blob is (only those are linked).
    REQUIRE(::chmod(blob.c_str(), 0644) == 0);
    // Make the blob look old, so a fresh mtime is visible.
    struct timespec old[2];
    ::clock_gettime(CLOCK_REALTIME, &old[0]);
    old[0].tv_sec -= 86400;
    old[1] = old[0];
    REQUIRE(::utimensat(AT_FDCWD, blob.c_str(), old, 0) == 0);
    fs::create_directories(dir / "out");
    const auto before = std::chrono::system_clock::now() - std::chrono::seconds(5);
    auto fresh = [&](const fs::path& p) {
        auto st = kache::test::stat_of(p);
        auto mtime = std::chrono::system_clock::time_point(std::chrono::seconds(st.st_mtim.tv_sec));
        return mtime >= std::chrono::time_point_cast<std::chrono::seconds>(before);
    };

    SECTION("allow_link") {
        fs::path dest = dir / "out" / "libx.rlib";
        write_file(dest, "stale output"); // replaced, not written through
        auto via = s.restore_file(*d, dest, 0644, store::Placement::allow_link);
        REQUIRE(via);
        std::string how = *via;
        CHECK((how == "link" || how == "reflink"));
        CHECK(kache::test::read_file(dest) == content);
        auto st = kache::test::stat_of(dest);
        if (how == "link") {
            CHECK(st.st_ino == kache::test::stat_of(blob).st_ino);
            CHECK(st.st_nlink == 2);
        } else {
            CHECK(st.st_ino != kache::test::stat_of(blob).st_ino);
        }
        CHECK(fresh(dest));
    }
    SECTION("copy_only") {
        fs::path dest = dir / "out" / "app";
        auto via = s.restore_file(*d, dest, 0755, store::Placement::copy_only);
        REQUIRE(via);
        std::string how = *via;
        CHECK((how == "copy" || how == "reflink"));
        auto st = kache::test::stat_of(dest);
        CHECK(st.st_ino != kache::test::stat_of(blob).st_ino);
        CHECK(st.st_nlink == 1);
        CHECK((st.st_mode & 07777) == 0755);
        CHECK(kache::test::read_file(dest) == content);
        CHECK(fresh(dest));
        // The copy is independent of the blob.
        write_file(dest, "changed in place");
        CHECK(kache::test::read_file(blob) == content);
    }
    SECTION("a copy over a linked restore does not write through the link") {
        fs::path dest = dir / "out" / "libx.rlib";
        REQUIRE(s.restore_file(*d, dest, 0644, store::Placement::allow_link));
        auto via = s.restore_file(*d, dest, 0600, store::Placement::copy_only);
        REQUIRE(via);
        CHECK(kache::test::stat_of(dest).st_ino != kache::test::stat_of(blob).st_ino);
        CHECK(mode_of(dest) == 0600);
        write_file(dest, "changed in place");
        CHECK(kache::test::read_file(blob) == content);
        CHECK(s.read_blob(*d).has_value());
    }
    SECTION("a missing blob is an error") {
        auto r = s.restore_file(hash::of("not stored"), dir / "out" / "nothing", 0644, store::Placement::copy_only);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::not_found);
    }
}

TEST_CASE("store: corrupt blobs are detected and removed", "[store][blob]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    const std::string content = "blob content that will be damaged";

    SECTION("read_blob") {
        auto d = s.put_blob(content);
        REQUIRE(d);
        auto ok = s.read_blob(*d);
        REQUIRE(ok);
        CHECK(*ok == content);
        auto small = s.read_blob(*d, 4);
        REQUIRE_FALSE(small);
        CHECK(small.error().kind == ErrorKind::invalid_input);
        CHECK(s.has_blob(*d)); // too large is not corrupt

        corrupt_file(s.blob_path(*d));
        auto r = s.read_blob(*d);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK_FALSE(s.has_blob(*d));
        auto again = s.read_blob(*d);
        REQUIRE_FALSE(again);
        CHECK(again.error().kind == ErrorKind::not_found);
        // The content can be stored again afterwards.
        REQUIRE(s.put_blob(content));
        CHECK(s.read_blob(*d).has_value());
    }
}

TEST_CASE("store: usage and purge_all", "[store]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto e = sample_entry(s); // three blobs
    REQUIRE(s.write_entry(e));
    REQUIRE(s.add_input_set(hash::of("k1"), input_set("a", 1)));
    REQUIRE(s.add_input_set(hash::of("k1-other"), input_set("a", 1)));

    auto u = s.usage();
    CHECK(u.blobs == 3);
    CHECK(u.blob_bytes == std::string("rlib bytes").size() + std::string("{{kache:cwd}}/src/lib.rs:\n").size() +
                               std::string("warning: unused\n").size());
    CHECK(u.entries == 1);
    CHECK(u.manifests == 2);

    auto lock = s.lock_key(hash::of("k1"), std::chrono::milliseconds(100));
    REQUIRE(lock);
    lock = util::FileLock(); // release

    REQUIRE(s.purge_all());
    u = s.usage();
    CHECK(u.blobs == 0);
    CHECK(u.blob_bytes == 0);
    CHECK(u.entries == 0);
    CHECK(u.manifests == 0);
    CHECK_FALSE(s.has_entry(e.k2));
    CHECK(s.list_entries().empty());
    CHECK(fs::is_empty(s.root() / "locks"));
    // The skeleton stays usable.
    for (const char* sub : {"blobs", "manifests", "entries", "locks", "tmp"}) CHECK(fs::is_directory(s.root() / sub));
    CHECK(s.put_blob("after purge").has_value());
    CHECK(s.write_entry(e).has_value());
}

TEST_CASE("store: per-key locks", "[store][lock]") {
    TempDir dir;
    auto s = open_store(dir / "c");
    auto k1 = hash::of("locked key");

    SECTION("a held lock excludes others until released") {
        {
            auto held = s.lock_key(k1, std::chrono::milliseconds(500));
            REQUIRE(held);
            CHECK(held->held());

            auto second = util::FileLock::try_acquire(s.lock_path(k1));
            REQUIRE(second);
            CHECK_FALSE(second->has_value());

            auto t0 = std::chrono::steady_clock::now();
            auto waited = s.lock_key(k1, std::chrono::milliseconds(100));
            auto elapsed = std::chrono::steady_clock::now() - t0;
            REQUIRE_FALSE(waited);
            CHECK(waited.error().kind == ErrorKind::timeout);
            CHECK(elapsed >= std::chrono::milliseconds(100));

            // Another key is independent.
            auto other = s.lock_key(hash::of("other key"), std::chrono::milliseconds(100));
            CHECK(other.has_value());
        }
        auto after = util::FileLock::try_acquire(s.lock_path(k1));
        REQUIRE(after);
        REQUIRE(after->has_value());
        CHECK((*after)->held());
    }
    SECTION("a lock held by a killed process is recovered") {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        fs::path lock_path = s.lock_path(k1);
        pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            ::close(ready[0]);
            auto l = s.lock_key(k1, std::chrono::milliseconds(2000));
            char c = l ? 'y' : 'n';
            (void)::write(ready[1], &c, 1);
            for (;;) ::pause();
        }
        ::close(ready[1]);
        char c = 0;
        REQUIRE(::read(ready[0], &c, 1) == 1);
        ::close(ready[0]);
        REQUIRE(c == 'y');

        auto busy = util::FileLock::try_acquire(lock_path);
        REQUIRE(busy);
        CHECK_FALSE(busy->has_value());

        REQUIRE(::kill(child, SIGKILL) == 0);
        int status = 0;
        REQUIRE(::waitpid(child, &status, 0) == child);
        CHECK(WIFSIGNALED(status));

        auto recovered = s.lock_key(k1, std::chrono::milliseconds(2000));
        REQUIRE(recovered);
        CHECK(recovered->held());
    }
}
