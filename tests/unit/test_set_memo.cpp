// key::SetMemo (lib/key/set_memo.cpp) and the lookup that uses it: the stamps
// an input set last matched under, trusted like the stat-keyed digest cache and
// never beyond it.
#include "../../lib/wrapper/context.hpp"

#include "core_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

using namespace kache;
using kache::test::open_store;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

util::FileStamp stamp_of(const fs::path& p) {
    auto st = util::stamp(p);
    REQUIRE(st);
    return *st;
}

bool same_stamps(const std::vector<util::FileStamp>& a, const std::vector<util::FileStamp>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!key::SetMemo::same(a[i], b[i]) && !(a[i].inode == 0 && b[i].inode == 0)) return false;
    return true;
}

// A store and a checkout; no racy window, so files written here count as settled.
struct Fixture {
    TempDir tmp{"kache-memo"};
    store::Store store = open_store(tmp / "cache");
    hash::FileHashCache hashes{store.hash_cache_dir(), store.tmp_dir(), std::chrono::nanoseconds(0)};
    key::SetMemo memo{store.seen_dir(), std::chrono::nanoseconds(-std::chrono::hours(1))};
    fs::path cwd = tmp / "ws";
    key::PathMap paths{{{"cwd", cwd.string()}}};
    hash::Digest k1 = hash::of("an invocation key");

    key::InputSet set_of(const std::vector<std::string>& files) {
        key::InputSet set;
        for (auto& f : files) {
            auto d = hash::of_file(cwd / f);
            REQUIRE(d);
            set.files.push_back({paths.normalize((cwd / f).string()), *d});
        }
        std::sort(set.files.begin(), set.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
        return set;
    }
    hash::Digest record(const key::InputSet& set, const std::string& tag) {
        store::Entry e;
        e.crate = tag;
        e.k1 = k1;
        e.k2 = key::result_key(k1, set);
        REQUIRE(store.write_entry(e));
        REQUIRE(store.add_input_set(k1, set));
        return e.k2;
    }
    std::optional<store::Entry> lookup() {
        std::string source = paths.normalize((cwd / "src/lib.rs").string()); // in every set here
        return wrapper::find_entry(store, hashes, paths, cwd, k1, source, nullptr, &memo);
    }
};

} // namespace

TEST_CASE("set memo: stamps survive a save and load, and answer only for their set", "[memo]") {
    TempDir tmp{"kache-memo-io"};
    key::SetMemo memo(tmp / "seen");
    write_file(tmp / "a", "one");
    write_file(tmp / "b", "two");
    std::vector<util::FileStamp> st{stamp_of(tmp / "a"), util::FileStamp{}, stamp_of(tmp / "b")};
    hash::Digest k1 = hash::of("k1"), k2 = hash::of("k2");
    memo.save(k1, k2, st);
    CHECK(same_stamps(memo.load(k1, k2, 3), st));
    CHECK(memo.load(k1, hash::of("another set"), 3).empty());
    CHECK(memo.load(k1, k2, 2).empty());
    CHECK(memo.load(hash::of("another key"), k2, 3).empty());

    // A shorter record written over a longer one is read whole and alone.
    std::vector<util::FileStamp> one{stamp_of(tmp / "b")};
    memo.save(k1, k2, one);
    CHECK(same_stamps(memo.load(k1, k2, 1), one));
    CHECK(memo.load(k1, k2, 3).empty());
}

TEST_CASE("set memo: a damaged or foreign file is ignored", "[memo]") {
    TempDir tmp{"kache-memo-bad"};
    key::SetMemo memo(tmp / "seen");
    write_file(tmp / "a", "one");
    hash::Digest k1 = hash::of("k1"), k2 = hash::of("k2");
    std::vector<util::FileStamp> st{stamp_of(tmp / "a")};
    memo.save(k1, k2, st);
    fs::path p = memo.path_of(k1);
    auto bytes = util::read_file_bounded(p, 1 << 20);
    REQUIRE(bytes);
    for (std::size_t i : {std::size_t{0}, std::size_t{5}, std::size_t{12}, std::size_t{30}, bytes->size() - 1}) {
        std::string bad = *bytes;
        bad[i] = static_cast<char>(bad[i] ^ 0x20);
        CHECK(key::SetMemo::parse(bad, k2, 1).empty());
    }
    CHECK(key::SetMemo::parse(bytes->substr(0, bytes->size() - 1), k2, 1).empty());
    CHECK(key::SetMemo::parse("", k2, 1).empty());
    CHECK_FALSE(key::SetMemo::parse(*bytes, k2, 1).empty());
}

TEST_CASE("set memo: a lookup that hashed writes the memo, and a later one trusts it", "[memo]") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    write_file(f.cwd / "src/util.rs", "pub fn helper() {}\n");
    auto set = f.set_of({"src/lib.rs", "src/util.rs"});
    auto k2 = f.record(set, "only");
    CHECK_FALSE(fs::exists(f.memo.path_of(f.k1)));
    REQUIRE(f.lookup());
    auto st = f.memo.load(f.k1, k2, 2);
    REQUIRE(st.size() == 2);
    CHECK(key::SetMemo::same(st[0], stamp_of(f.cwd / "src/lib.rs")));
    CHECK(key::SetMemo::same(st[1], stamp_of(f.cwd / "src/util.rs")));

    // The memo is what answers: one that vouches for the present stamps is taken
    // without reading the files (here it vouches for bytes the set does not hold).
    write_file(f.cwd / "src/util.rs", "pub fn other() {}\n");
    CHECK_FALSE(f.lookup());
    f.memo.save(f.k1, k2, std::vector<util::FileStamp>{stamp_of(f.cwd / "src/lib.rs"), stamp_of(f.cwd / "src/util.rs")});
    CHECK(f.lookup());
}

TEST_CASE("set memo: any write after the memo moves the stamp, so the file is hashed again", "[memo]") {
    Fixture f;
    fs::path util_rs = f.cwd / "src/util.rs";
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    write_file(util_rs, "pub const V: u32 = 1;\n");
    f.record(f.set_of({"src/lib.rs", "src/util.rs"}), "one");
    REQUIRE(f.lookup());
    REQUIRE(f.memo.load(f.k1, key::result_key(f.k1, f.set_of({"src/lib.rs", "src/util.rs"})), 2).size() == 2);

    // Same size, mtime put back: only the ctime moves, and that is enough.
    auto before = stamp_of(util_rs);
    {
        std::ofstream out(util_rs, std::ios::in | std::ios::out | std::ios::binary);
        out << "pub const V: u32 = 2;\n";
    }
    struct timespec times[2] = {{before.mtime_ns / 1000000000, before.mtime_ns % 1000000000},
                                {before.mtime_ns / 1000000000, before.mtime_ns % 1000000000}};
    REQUIRE(::utimensat(AT_FDCWD, util_rs.c_str(), times, 0) == 0);
    auto after = stamp_of(util_rs);
    REQUIRE(after.size == before.size);
    REQUIRE(after.mtime_ns == before.mtime_ns);
    REQUIRE(after.inode == before.inode);
    CHECK_FALSE(f.lookup());
}

TEST_CASE("set memo: a file changed within the racy window is not remembered", "[memo]") {
    TempDir tmp{"kache-memo-racy"};
    store::Store store = open_store(tmp / "cache");
    hash::FileHashCache hashes{store.hash_cache_dir(), store.tmp_dir()};
    key::SetMemo memo{store.seen_dir()}; // the real window
    fs::path cwd = tmp / "ws";
    key::PathMap paths{{{"cwd", cwd.string()}}};
    hash::Digest k1 = hash::of("k1");
    write_file(cwd / "src/lib.rs", "fn main() {}\n"); // just written: racy
    key::InputSet set;
    set.files.push_back({paths.normalize((cwd / "src/lib.rs").string()), *hash::of_file(cwd / "src/lib.rs")});
    store::Entry e;
    e.k1 = k1;
    e.k2 = key::result_key(k1, set);
    REQUIRE(store.write_entry(e));
    REQUIRE(store.add_input_set(k1, set));
    REQUIRE(wrapper::find_entry(store, hashes, paths, cwd, k1, set.files[0].path, nullptr, &memo));
    auto st = memo.load(k1, e.k2, 1);
    REQUIRE(st.size() == 1);
    CHECK(st[0].inode == 0); // "hash this file next time"
}

TEST_CASE("set memo: gc removes a memo whose manifest is gone", "[memo][gc]") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    f.record(f.set_of({"src/lib.rs"}), "only");
    REQUIRE(f.lookup());
    hash::Digest orphan = hash::of("a key with no manifest");
    f.memo.save(orphan, hash::of("x"), std::vector<util::FileStamp>{stamp_of(f.cwd / "src/lib.rs")});
    REQUIRE(fs::exists(f.memo.path_of(orphan)));
    REQUIRE(f.store.gc(1ull << 40, 0));
    CHECK_FALSE(fs::exists(f.memo.path_of(orphan)));
    CHECK(fs::exists(f.memo.path_of(f.k1)));
}
