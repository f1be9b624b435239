// kache::why (the why-miss records: text form, untrusted parsing, the comparison) and
// the store's size counter and trim (kache/size_cap.hpp).
#include <kache/size_cap.hpp>
#include <kache/why.hpp>

#include "core_test_support.hpp"

#include <sys/stat.h>

using namespace kache;
using kache::test::open_store;
using kache::test::TempDir;
namespace fs = std::filesystem;

namespace {

why::Record sample() {
    why::Record r;
    r.unit = {"my-pkg", "my_pkg", "lib"};
    r.k1 = hash::of("k1");
    r.time_ms = 1000;
    r.roots = {{"cwd", "/work/a b"}};
    r.rustflags = {"--cfg", "foo"};
    r.components = {{"compiler", "abc"}, {"args", "--crate-name my_pkg\n--cfg foo\n"}, {"env", "A=1\nB=%x y\n"}};
    key::InputSet set;
    set.created_ms = 900;
    set.files = {{"{{kache:cwd}}/src/lib.rs", hash::of("x")}};
    set.env = {{"UNSET", std::nullopt}, {"V", std::string("line\nbreak")}};
    r.inputs = set;
    r.k2 = key::result_key(r.k1, set);
    return r;
}

} // namespace

TEST_CASE("a why record survives its text form, whatever its values hold") {
    auto r = sample();
    auto back = why::parse(why::serialize(r));
    REQUIRE(back);
    CHECK(back->unit == r.unit);
    CHECK(back->k1 == r.k1);
    CHECK(back->k2 == r.k2);
    CHECK(back->roots[0].path == "/work/a b");
    CHECK(back->components[2].value == "A=1\nB=%x y\n");
    REQUIRE(back->inputs);
    CHECK(*back->inputs == *r.inputs);
    CHECK(back->rustflags == r.rustflags);
}

TEST_CASE("a malformed why record is corrupt, never a crash") {
    std::string good = why::serialize(sample());
    for (std::string bad : {std::string(), std::string("kache-why 1\n"), good.substr(0, good.size() - 1),
                            good + "extra\n", std::string("kache-why 1\nunit a/b c d\nk1 00\nend\n"),
                            std::string("kache-why 1\nunit a b c\nk1 ") + hash::of("x").hex() + "\ncomponent x %4\nend\n",
                            std::string("kache-why 1\nfile 00 x\nend\n")}) {
        auto r = why::parse(bad);
        CHECK_FALSE(r);
    }
}

TEST_CASE("secret variable names") {
    CHECK(why::is_secret_name("AWS_SECRET_ACCESS_KEY"));
    CHECK(why::is_secret_name("my_api_token"));
    CHECK(why::is_secret_name("DB_PASSWORD"));
    CHECK_FALSE(why::is_secret_name("WHY_MSG"));
}

TEST_CASE("why files are private and a miss compares with the recorded key") {
    TempDir dir;
    auto s = open_store(dir.path() / "store");
    auto old = sample();
    old.time_ms = 500;
    REQUIRE(why::write_recorded(s, old));
    REQUIRE(s.add_input_set(old.k1, *old.inputs));
    auto miss = sample();
    miss.components[1].value = "--crate-name my_pkg\n--cfg foo\n--cfg feature=\"x\"\n";
    miss.k1 = hash::of("k1-new");
    miss.k2 = key::result_key(miss.k1, *miss.inputs);
    REQUIRE(why::write_miss(s, miss));
    struct stat st {};
    REQUIRE(::stat(why::miss_path(s, miss.unit).c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0);
    auto misses = why::latest_misses(s, "my_pkg");
    REQUIRE(misses.size() == 1);
    auto ex = why::explain(s, misses[0]);
    CHECK_FALSE(ex.never_built);
    REQUIRE(ex.changes.size() == 1);
    CHECK(ex.changes[0].find("feature \"x\" enabled") != std::string::npos);
    CHECK(why::latest_misses(s, "other").empty());
}

TEST_CASE("the size counter: added to, unknown when malformed, re-synced by GC") {
    TempDir dir;
    auto s = open_store(dir.path() / "store");
    CHECK(store::read_size_counter(s) == 0u);
    CHECK(store::add_to_size_counter(s, 100) == 100u);
    CHECK(store::add_to_size_counter(s, 50) == 150u);
    kache::test::write_file(store::size_counter_path(s), "12x\n");
    CHECK_FALSE(store::add_to_size_counter(s, 1));
    REQUIRE(s.gc(1 << 20));
    CHECK(store::read_size_counter(s) == 0u);
    auto t = store::trim_if_over_cap(s, 1 << 20);
    REQUIRE(t);
    CHECK(*t == store::TrimOutcome::under_cap);
    CHECK_FALSE(store::trim_running(s));
}
