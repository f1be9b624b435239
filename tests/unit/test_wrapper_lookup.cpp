// kache::wrapper's lookup against a real temporary store: the manifest of K1 is
// walked newest first and the first input set whose files and env-dep
// variables match now names the entry.
#include "../../lib/wrapper/context.hpp"

#include "core_test_support.hpp"

using namespace kache;
using kache::test::open_store;
using kache::test::ScopedEnv;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

// A store, a hash cache and a checkout whose root is the "cwd" sentinel.
struct Fixture {
    TempDir tmp{"kache-lookup"};
    store::Store store = open_store(tmp / "cache");
    hash::FileHashCache hashes{store.hash_cache_dir(), store.tmp_dir()};
    fs::path cwd = tmp / "ws";
    key::PathMap paths{{{"cwd", cwd.string()}}};
    hash::Digest k1 = hash::of("an invocation key");
    // The invocation's crate root, as its sets list it.
    std::string source = paths.normalize((cwd / "src/lib.rs").string());

    // The input set of the files as they are now (paths relative to cwd), as
    // the recorder would build it.
    key::InputSet current_set(const std::vector<std::string>& files,
                              std::vector<std::pair<std::string, std::optional<std::string>>> env = {}) {
        key::InputSet set;
        for (auto& f : files) {
            auto d = hashes.digest(cwd / f);
            REQUIRE(d);
            set.files.push_back({paths.normalize((cwd / f).string()), *d});
        }
        std::sort(set.files.begin(), set.files.end(), [](auto& a, auto& b) { return a.path < b.path; });
        set.env = std::move(env);
        return set;
    }

    // Records an entry for set (tagged by its crate field) and adds the set in
    // front of the manifest, as a newer compile would.
    hash::Digest record(const key::InputSet& set, const std::string& tag, bool write_entry = true) {
        store::Entry e;
        e.crate = tag;
        e.k1 = k1;
        e.k2 = key::result_key(k1, set);
        if (write_entry) REQUIRE(store.write_entry(e));
        REQUIRE(store.add_input_set(k1, set));
        return e.k2;
    }

    std::optional<store::Entry> lookup() { return wrapper::find_entry(store, hashes, paths, cwd, k1, source); }
};

} // namespace

TEST_CASE("lookup: no manifest is a miss") {
    Fixture f;
    CHECK_FALSE(f.lookup());
}

TEST_CASE("lookup: the input set matching the files now wins, whatever its age") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn v1() {}\n");
    write_file(f.cwd / "src/util.rs", "pub fn helper() {}\n");
    f.record(f.current_set({"src/lib.rs", "src/util.rs"}), "old");
    write_file(f.cwd / "src/lib.rs", "fn v2() {}\n");
    f.record(f.current_set({"src/lib.rs", "src/util.rs"}), "new");

    auto hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "new");

    // Back to the first version: the older set (second in the manifest) matches.
    write_file(f.cwd / "src/lib.rs", "fn v1() {}\n");
    hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "old");
    CHECK(hit->k2 == key::result_key(f.k1, f.current_set({"src/lib.rs", "src/util.rs"})));
}

TEST_CASE("lookup: when several sets match, the newest is taken") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    f.record(f.current_set({"src/lib.rs"}), "older");
    // The newer compile also read an unset variable: it matches too.
    f.record(f.current_set({"src/lib.rs"}, {{"KACHE_LOOKUP_TEST_UNSET", std::nullopt}}), "newer");
    ScopedEnv unset("KACHE_LOOKUP_TEST_UNSET", nullptr);
    auto hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "newer");
}

TEST_CASE("lookup: a changed file is a miss") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    write_file(f.cwd / "src/other.rs", "const X: u32 = 1;\n");
    f.record(f.current_set({"src/lib.rs", "src/other.rs"}), "only");
    REQUIRE(f.lookup());

    write_file(f.cwd / "src/other.rs", "const X: u32 = 2;\n");
    CHECK_FALSE(f.lookup());

    // A removed input is a miss too.
    write_file(f.cwd / "src/other.rs", "const X: u32 = 1;\n");
    REQUIRE(f.lookup());
    fs::remove(f.cwd / "src/other.rs");
    CHECK_FALSE(f.lookup());
}

TEST_CASE("lookup: env-dep variables must have their recorded value") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    f.record(f.current_set({"src/lib.rs"}, {{"KACHE_LOOKUP_TEST_VAR", "one"}}), "one");
    {
        ScopedEnv v("KACHE_LOOKUP_TEST_VAR", "one");
        auto hit = f.lookup();
        REQUIRE(hit);
        CHECK(hit->crate == "one");
    }
    {
        ScopedEnv v("KACHE_LOOKUP_TEST_VAR", "two");
        CHECK_FALSE(f.lookup());
    }
    {
        ScopedEnv v("KACHE_LOOKUP_TEST_VAR", nullptr);
        CHECK_FALSE(f.lookup());
    }
    // A value recorded in sentinel form matches the same path under this checkout.
    f.record(f.current_set({"src/lib.rs"}, {{"KACHE_LOOKUP_TEST_DIR", "{{kache:cwd}}/gen"}}), "portable");
    ScopedEnv dir("KACHE_LOOKUP_TEST_DIR", (f.cwd / "gen").c_str());
    auto hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "portable");
}

TEST_CASE("lookup: a matching set whose entry is gone falls through to an older match") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    f.record(f.current_set({"src/lib.rs"}), "kept");
    f.record(f.current_set({"src/lib.rs"}, {{"KACHE_LOOKUP_TEST_UNSET", std::nullopt}}), "gone",
             /*write_entry=*/false);
    ScopedEnv unset("KACHE_LOOKUP_TEST_UNSET", nullptr);
    auto hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "kept");
}

TEST_CASE("lookup: a miss says why (for the event log)") {
    Fixture f;
    std::string why;
    CHECK_FALSE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, f.source, &why));
    CHECK(why == events::k_miss_new);

    write_file(f.cwd / "src/lib.rs", "fn main() {}\n");
    f.record(f.current_set({"src/lib.rs"}), "only");
    why.clear();
    REQUIRE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, f.source, &why));

    write_file(f.cwd / "src/lib.rs", "fn main() { let _ = 1; }\n");
    CHECK_FALSE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, f.source, &why));
    CHECK(why == events::k_miss_inputs_changed);
}

TEST_CASE("lookup: a set that does not list the invocation's source never matches") {
    Fixture f;
    write_file(f.cwd / "src/lib.rs", "fn f( {}\n");
    write_file(f.cwd / "src/util.rs", "pub fn helper() {}\n");
    // A failed compile that wrote no dep-info, or a set planted in a remote:
    // no files at all, or files that leave the source out, would match any
    // code at the source's path.
    f.record(f.current_set({}), "empty");
    CHECK_FALSE(f.lookup());
    f.record(f.current_set({"src/util.rs"}), "without the source");
    std::string why;
    CHECK_FALSE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, f.source, &why));
    CHECK(why == events::k_miss_inputs_changed);
    // The same path in another spelling is another file to the set.
    CHECK_FALSE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, "src/util.rs"));
    CHECK_FALSE(wrapper::find_entry(f.store, f.hashes, f.paths, f.cwd, f.k1, ""));

    f.record(f.current_set({"src/lib.rs", "src/util.rs"}), "listed");
    auto hit = f.lookup();
    REQUIRE(hit);
    CHECK(hit->crate == "listed");
    write_file(f.cwd / "src/lib.rs", "pub fn g() {}\n");
    CHECK_FALSE(f.lookup());
}

TEST_CASE("lookup: lists_source compares the set's paths with the source as the set spells it") {
    key::InputSet set;
    CHECK_FALSE(wrapper::lists_source(set, "src/lib.rs"));
    set.files.push_back({"src/lib.rs", hash::of("x")});
    CHECK(wrapper::lists_source(set, "src/lib.rs"));
    CHECK_FALSE(wrapper::lists_source(set, "./src/lib.rs"));
    CHECK_FALSE(wrapper::lists_source(set, ""));
    rustc::Invocation inv;
    inv.source = "/ws/src/lib.rs";
    key::PathMap paths{{{"cwd", "/ws"}}};
    CHECK(wrapper::source_in_set(paths, inv) == paths.normalize("/ws/src/lib.rs"));
}
