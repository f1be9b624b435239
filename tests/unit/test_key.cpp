// kache::key: path normalization, the invocation key K1 (stability and
// sensitivity), input sets and the result key K2.
#include <kache/key.hpp>

#include "core_test_support.hpp"

#include <algorithm>

using namespace kache;
using kache::test::ScopedEnv;
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

// A workspace with a target dir, one dependency rlib and a few inputs outside dep-info.
struct Workspace {
    fs::path ws;
    fs::path deps;

    explicit Workspace(const fs::path& where) : ws(where), deps(where / "target" / "debug" / "deps") {
        write_file(ws / "src" / "lib.rs", "pub fn f() {}\n");
        write_file(ws / "target" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
        write_file(deps / "libdep-1111.rlib", "dep rlib v1");
        write_file(ws / "native" / "libfoo.a", "!<arch>\nfoo v1");
        write_file(ws / "my-target.json", "{\"llvm-target\": \"x86_64-unknown-none\"}");
        write_file(ws / "script.ld", "SECTIONS {}");
    }

    std::vector<std::string> args(const std::string& emit = "--emit=dep-info,metadata,link",
                                  const std::string& crate_type = "lib") const {
        return {"--crate-name", "foo", "--edition=2021", "src/lib.rs", "--crate-type", crate_type, emit,
                "-C", "embed-bitcode=no", "-C", "metadata=abc", "-C", "extra-filename=-abc",
                "--out-dir", deps.string(), "-L", "dependency=" + deps.string(),
                "--extern", "dep=" + (deps / "libdep-1111.rlib").string()};
    }

    key::KeyContext ctx() const {
        key::KeyContext c;
        c.compiler_identity = "rustc-identity-1";
        c.linker_identity = "linker-identity-1";
        c.env = {{"CARGO_MANIFEST_DIR", ws.string()}, {"CARGO_PKG_NAME", "foo"}, {"CARGO_PKG_VERSION", "0.1.0"}};
        c.cwd = ws;
        return c;
    }
};

// Computes K1 the way the wrapper does: parse, find the roots, hash.
struct Keyer {
    TempDir cache_dir{"kache-unit-hc"};
    hash::FileHashCache hashes{cache_dir / "hc", cache_dir.path()};

    Result<key::InvocationKey> try_key(const std::vector<std::string>& args, const key::KeyContext& ctx) {
        auto inv = rustc::parse(args, ctx.cwd);
        REQUIRE(inv);
        INFO(inv->passthrough_reason.value_or(""));
        REQUIRE_FALSE(inv->passthrough_reason);
        return key::invocation_key(*inv, ctx, key::roots_for(*inv, ctx.cwd), hashes);
    }
    hash::Digest key(const std::vector<std::string>& args, const key::KeyContext& ctx) {
        auto k = try_key(args, ctx);
        INFO((k ? std::string() : k.error().message));
        REQUIRE(k);
        return k->digest;
    }
    hash::Digest key_of(const rustc::Invocation& inv, const key::KeyContext& ctx) {
        auto k = key::invocation_key(inv, ctx, key::roots_for(inv, ctx.cwd), hashes);
        INFO((k ? std::string() : k.error().message));
        REQUIRE(k);
        return k->digest;
    }
};

std::vector<std::string> plus(std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
}

// Environment that roots_for reads, pinned so the tests do not depend on the machine.
struct PinnedEnv {
    ScopedEnv home{"HOME", "/nonexistent-home"};
    ScopedEnv cargo_home{"CARGO_HOME", nullptr};
    ScopedEnv tmpdir{"TMPDIR", "/var/tmp"};
};

} // namespace

// ---- PathMap ----

TEST_CASE("key: PathMap normalize and expand round trip", "[key][paths]") {
    auto m = sample_map();
    const std::string text = "/tmp/wl2/src/lib.rs /tmp/wl2/target/debug/deps/libx.rlib "
                             "/home/u/.cargo/registry/src/a.rs /home/u/notes /tmp/scratch";
    std::string n = m.normalize(text);
    CHECK(n == "{{kache:cwd}}/src/lib.rs {{kache:target}}/debug/deps/libx.rlib "
               "{{kache:cargo}}/registry/src/a.rs {{kache:home}}/notes {{kache:tmp}}/scratch");
    CHECK(m.expand(n) == text);
    CHECK(m.expand("no sentinels here") == "no sentinels here");
    CHECK(key::PathMap::sentinel("cwd") == "{{kache:cwd}}");
}

TEST_CASE("key: PathMap matches only whole path prefixes", "[key][paths]") {
    key::PathMap m(std::vector<key::Root>{{"cwd", "/tmp/wl2"}});
    CHECK(m.normalize("/tmp/wl2") == "{{kache:cwd}}");                   // the whole text
    CHECK(m.normalize("/tmp/wl2/src") == "{{kache:cwd}}/src");           // at the start
    CHECK(m.normalize("/tmp/wl22/src") == "/tmp/wl22/src");              // not inside a longer name
    CHECK(m.normalize("/tmp/wl2.bak/x") == "/tmp/wl2.bak/x");
    CHECK(m.normalize("/tmp/wl2-old/x") == "/tmp/wl2-old/x");
    CHECK(m.normalize("/x/tmp/wl2/src") == "/x/tmp/wl2/src");            // not in the middle of a path
    CHECK(m.normalize("dependency=/tmp/wl2/target") == "dependency={{kache:cwd}}/target"); // after '='
    CHECK(m.normalize("--out-dir=/tmp/wl2") == "--out-dir={{kache:cwd}}");
    CHECK(m.normalize("link-arg=-L/tmp/wl2/lib") == "link-arg=-L{{kache:cwd}}/lib"); // glued to a short option
    CHECK(m.normalize("-I/tmp/wl2/include") == "-I{{kache:cwd}}/include");
    CHECK(m.normalize("x-L/tmp/wl2/lib") == "x-L/tmp/wl2/lib");                 // not an option: inside a word
    CHECK(m.normalize("-xL/tmp/wl2/lib") == "-xL/tmp/wl2/lib");
    CHECK(m.normalize("\"/tmp/wl2/a\" '/tmp/wl2/b' (/tmp/wl2)") ==
          "\"{{kache:cwd}}/a\" '{{kache:cwd}}/b' ({{kache:cwd}})");
    CHECK(m.normalize("/tmp/wl2:/tmp/wl22:/tmp/wl2") == "{{kache:cwd}}:/tmp/wl22:{{kache:cwd}}");
    CHECK(m.normalize("error at /tmp/wl2/src/lib.rs:3:5\n") == "error at {{kache:cwd}}/src/lib.rs:3:5\n");
}

TEST_CASE("key: PathMap prefers the longest root", "[key][paths]") {
    // Given in an order where a shorter root comes first.
    key::PathMap m({{"tmp", "/tmp"}, {"cwd", "/tmp/wl2"}, {"target", "/tmp/wl2/target"}});
    CHECK(m.roots().front().name == "target");
    CHECK(m.roots().back().name == "tmp");
    CHECK(m.normalize("/tmp/wl2/target/debug") == "{{kache:target}}/debug");
    CHECK(m.normalize("/tmp/wl2/src") == "{{kache:cwd}}/src");
    CHECK(m.normalize("/tmp/other") == "{{kache:tmp}}/other");
    CHECK(m.normalize("/tmp/wl22") == "{{kache:tmp}}/wl22");
}

TEST_CASE("key: PathMap JSON-escaped variants", "[key][paths]") {
    key::PathMap m(std::vector<key::Root>{{"cwd", "/tmp/we\"ird\\ws"}});
    const std::string json = R"({"file":"/tmp/we\"ird\\ws/src/lib.rs","other":"/tmp/we\"ird\\ws2"})";
    std::string n = m.normalize_json(json);
    CHECK(n == R"({"file":"{{kache:cwd}}/src/lib.rs","other":"/tmp/we\"ird\\ws2"})");
    CHECK(m.expand_json(n) == json);
    // Plain normalize looks for the raw path, which does not occur in JSON text.
    CHECK(m.normalize(json) == json);
    // And expand writes the raw form.
    CHECK(m.expand("{{kache:cwd}}/a") == "/tmp/we\"ird\\ws/a");
}

TEST_CASE("key: remap_args puts the most specific root last", "[key][paths]") {
    auto m = sample_map();
    auto args = m.remap_args();
    CHECK(args == std::vector<std::string>{
                      "--remap-path-prefix=/tmp=/kache/tmp",
                      "--remap-path-prefix=/home/u=/kache/home",
                      "--remap-path-prefix=/tmp/wl2=/kache/cwd",
                      "--remap-path-prefix=/home/u/.cargo=/kache/cargo",
                      "--remap-path-prefix=/tmp/wl2/target=/kache/target",
                  });
    // Whatever the tie order, a root always comes after every root that is a prefix of it.
    for (size_t i = 0; i < args.size(); ++i)
        for (size_t j = i + 1; j < args.size(); ++j) {
            auto pi = args[i].substr(20, args[i].find("=/kache") - 20);
            auto pj = args[j].substr(20, args[j].find("=/kache") - 20);
            CHECK_FALSE((pi.size() > pj.size() && pi.rfind(pj + "/", 0) == 0));
        }
    CHECK(key::PathMap::remap_target("cwd") == "/kache/cwd");
    CHECK(key::PathMap().remap_args().empty());
}

TEST_CASE("key: normalize_output and unremap_output", "[key][paths]") {
    auto m = sample_map();
    // Compiler output mentions both remapped paths and (from build scripts) real ones.
    const std::string out = "warning: unused at /kache/cwd/src/lib.rs:1:1\n"
                            "note: see /tmp/wl2/src/main.rs and /kache/target/debug/out.rs\n"
                            "not a root: /kache/cwdx/y /kachex/cwd\n";
    std::string n = m.normalize_output(out, false);
    CHECK(n == "warning: unused at {{kache:cwd}}/src/lib.rs:1:1\n"
               "note: see {{kache:cwd}}/src/main.rs and {{kache:target}}/debug/out.rs\n"
               "not a root: /kache/cwdx/y /kachex/cwd\n");
    CHECK(m.expand(n).find("/tmp/wl2/src/lib.rs:1:1") != std::string::npos);

    const std::string remapped = "error at /kache/cwd/src/lib.rs:2:3 and /kache/cargo/registry/x.rs\n";
    CHECK(m.unremap_output(remapped, false) == "error at /tmp/wl2/src/lib.rs:2:3 and /home/u/.cargo/registry/x.rs\n");
    CHECK(m.unremap_output("nothing to do", false) == "nothing to do");

    // JSON lines: paths are escaped in both directions.
    key::PathMap j(std::vector<key::Root>{{"cwd", "/tmp/a\\b"}});
    const std::string jline = R"({"message":"x","file":"/kache/cwd/src/lib.rs","other":"/tmp/a\\b/src/m.rs"})";
    CHECK(j.normalize_output(jline, true) ==
          R"({"message":"x","file":"{{kache:cwd}}/src/lib.rs","other":"{{kache:cwd}}/src/m.rs"})");
    CHECK(j.unremap_output(R"({"file":"/kache/cwd/src/lib.rs"})", true) == R"({"file":"/tmp/a\\b/src/lib.rs"})");
    CHECK(j.unremap_output("/kache/cwd/src/lib.rs", false) == "/tmp/a\\b/src/lib.rs");
}

TEST_CASE("key: a root name inside a normalized path is not a root", "[key][paths]") {
    // A workspace subdirectory called "tmp" is not the temp dir: after the cwd
    // root is replaced, "/tmp/gen.rs" does not start a path any more.
    key::PathMap here({{"cwd", "/work/ws"}, {"tmp", "/tmp"}});
    std::string n = here.normalize("/work/ws/tmp/gen.rs");
    CHECK(n == "{{kache:cwd}}/tmp/gen.rs");
    // Otherwise the path expands wrongly on a machine whose temp dir differs.
    key::PathMap there({{"cwd", "/home/b/ws"}, {"tmp", "/var/tmp"}});
    CHECK(there.expand(n) == "/home/b/ws/tmp/gen.rs");
}

TEST_CASE("key: roots_for finds the target dir, cwd, cargo, home and tmp", "[key][paths]") {
    TempDir dir;
    Workspace w(dir / "ws");
    PinnedEnv pinned;
    auto inv = rustc::parse(w.args(), w.ws);
    REQUIRE(inv);
    auto m = key::roots_for(*inv, w.ws);
    auto find = [&](const std::string& name) -> std::string {
        for (auto& r : m.roots())
            if (r.name == name) return r.path;
        return "<none>";
    };
    CHECK(find("target") == (w.ws / "target").string());
    CHECK(find("cwd") == w.ws.string());
    CHECK(find("cargo") == "/nonexistent-home/.cargo");
    CHECK(find("home") == "/nonexistent-home");
    CHECK(find("tmp") == "/var/tmp");
    CHECK(m.normalize((w.deps / "libdep-1111.rlib").string()) == "{{kache:target}}/debug/deps/libdep-1111.rlib");

    {
        ScopedEnv ch("CARGO_HOME", "/opt/cargo/");
        auto m2 = key::roots_for(*inv, w.ws);
        bool found = false;
        for (auto& r : m2.roots())
            if (r.name == "cargo") found = r.path == "/opt/cargo"; // trailing '/' dropped
        CHECK(found);
    }

    // An absolute source (a registry crate) does not make cwd a root.
    auto abs_args = w.args();
    abs_args[3] = (w.ws / "src" / "lib.rs").string();
    auto inv2 = rustc::parse(abs_args, w.ws);
    REQUIRE(inv2);
    auto m3 = key::roots_for(*inv2, w.ws);
    for (auto& r : m3.roots()) CHECK(r.name != "cwd");

    // Without CACHEDIR.TAG there is no target root.
    fs::remove(w.ws / "target" / "CACHEDIR.TAG");
    auto m4 = key::roots_for(*inv, w.ws);
    for (auto& r : m4.roots()) CHECK(r.name != "target");
}

// ---- the invocation key ----

TEST_CASE("key: K1 is stable", "[key][k1]") {
    TempDir dir;
    PinnedEnv pinned;
    Keyer k;

    SECTION("same inputs, same digest") {
        Workspace w(dir / "ws");
        auto a = k.key(w.args(), w.ctx());
        auto b = k.key(w.args(), w.ctx());
        CHECK(a == b);
        // A fresh hash cache gives the same answer.
        Keyer k2;
        CHECK(k2.key(w.args(), w.ctx()) == a);

        auto full = k.try_key(w.args(), w.ctx());
        REQUIRE(full);
        std::vector<std::string> names;
        for (auto& c : full->components) names.push_back(c.name);
        for (const char* expected : {"recipe", "compiler", "args", "inputs", "linker", "env"})
            CHECK(std::find(names.begin(), names.end(), expected) != names.end());
    }
    SECTION("the same workspace at two different paths") {
        Workspace w1(dir / "first" / "ws");
        Workspace w2(dir / "second-checkout" / "deeper" / "ws2");
        auto a = k.key(w1.args(), w1.ctx());
        auto b = k.key(w2.args(), w2.ctx());
        CHECK(a == b);

        // ... but not when kache cannot remap the outputs' paths.
        auto c1 = w1.ctx(), c2 = w2.ctx();
        c1.remapped = c2.remapped = false;
        CHECK(k.key(w1.args(), c1) != k.key(w2.args(), c2));
    }
}

TEST_CASE("key: K1 changes with every input that can change the output", "[key][k1]") {
    TempDir dir;
    PinnedEnv pinned;
    Workspace w(dir / "ws");
    Keyer k;
    const auto args = w.args();
    const auto ctx = w.ctx();
    const auto base = k.key(args, ctx);

    SECTION("an argument value") {
        auto a = args;
        *std::find(a.begin(), a.end(), "metadata=abc") = "metadata=abd";
        CHECK(k.key(a, ctx) != base);
        auto e = args;
        *std::find(e.begin(), e.end(), "--edition=2021") = "--edition=2018";
        CHECK(k.key(e, ctx) != base);
    }
    SECTION("a --cfg") {
        CHECK(k.key(plus(args, {"--cfg", "feature=\"std\""}), ctx) != base);
        CHECK(k.key(plus(args, {"--cfg", "feature=\"std\""}), ctx) !=
              k.key(plus(args, {"--cfg", "feature=\"alloc\""}), ctx));
    }
    SECTION("an extra -C flag (RUSTFLAGS)") {
        CHECK(k.key(plus(args, {"-C", "target-cpu=native"}), ctx) != base);
        CHECK(k.key(plus(args, {"-Copt-level=3"}), ctx) != base);
    }
    SECTION("the --emit set (check vs build)") {
        CHECK(k.key(w.args("--emit=dep-info,metadata"), ctx) != base);
    }
    SECTION("an --extern file's content") {
        write_file(w.deps / "libdep-1111.rlib", "dep rlib v2"); // same size, other bytes
        CHECK(k.key(args, ctx) != base);
        write_file(w.deps / "libdep-1111.rlib", "dep rlib v1");
        CHECK(k.key(args, ctx) == base);
    }
    SECTION("a large --extern file's content (through the hash cache)") {
        std::string big = kache::test::random_bytes(200'000, 1);
        write_file(w.deps / "libdep-1111.rlib", big);
        auto k_big = k.key(args, ctx);
        k.key(args, ctx); // warm the cache
        big[100'000] ^= 1;
        write_file(w.deps / "libdep-1111.rlib", big);
        CHECK(k.key(args, ctx) != k_big);
    }
    SECTION("the compiler identity") {
        auto c = ctx;
        c.compiler_identity = "rustc-identity-2";
        CHECK(k.key(args, c) != base);
    }
    SECTION("clippy vs rustc") {
        auto c = ctx;
        c.mode = "clippy";
        CHECK(k.key(args, c) != base);
    }
    SECTION("the linker identity, for an output that links") {
        auto bin = w.args("--emit=dep-info,link", "bin");
        auto c = ctx;
        c.linker_identity = "linker-identity-2";
        CHECK(k.key(bin, c) != k.key(bin, ctx));
        // An rlib does not link: the linker does not split its key.
        CHECK(k.key(args, c) == base);
    }
    SECTION("a steering environment variable's value") {
        auto c = ctx;
        c.env[2].second = "0.1.1";
        CHECK(k.key(args, c) != base);
        auto extra = ctx;
        extra.env.push_back({"RUSTC_BOOTSTRAP", "1"});
        CHECK(k.key(args, extra) != base);
    }
    SECTION("a static library's content") {
        auto a = plus(args, {"-L", "native=" + (w.ws / "native").string(), "-l", "static=foo"});
        auto before = k.key(a, ctx);
        CHECK(before != base);
        write_file(w.ws / "native" / "libfoo.a", "!<arch>\nfoo v2");
        CHECK(k.key(a, ctx) != before);

        auto wa = plus(args, {"-L", "native=" + (w.ws / "native").string(), "-l", "static:+whole-archive=foo"});
        auto wa_before = k.key(wa, ctx);
        write_file(w.ws / "native" / "libfoo.a", "!<arch>\nfoo v3");
        CHECK(k.key(wa, ctx) != wa_before);
    }
    SECTION("a --target spec file's content") {
        auto a = plus(args, {"--target", (w.ws / "my-target.json").string()});
        auto before = k.key(a, ctx);
        write_file(w.ws / "my-target.json", "{\"llvm-target\": \"aarch64-unknown-none\"}");
        CHECK(k.key(a, ctx) != before);
    }
    SECTION("an @argfile's content") {
        write_file(w.ws / "args.txt", "--cfg\nfeature=\"one\"");
        auto inv = rustc::parse(plus(args, {"@args.txt"}), w.ws);
        REQUIRE(inv);
        REQUIRE(inv->argfiles.size() == 1);
        auto before = k.key_of(*inv, ctx);
        // Same parsed arguments, other file content: the file itself is an input.
        write_file(w.ws / "args.txt", "--cfg\nfeature=\"two\"");
        CHECK(k.key_of(*inv, ctx) != before);
        // And re-parsing picks the new arguments up too.
        CHECK(k.key(plus(args, {"@args.txt"}), ctx) != before);
    }
    SECTION("a linker script named in -C link-arg") {
        auto a = plus(w.args("--emit=dep-info,link", "bin"), {"-C", "link-arg=-Tscript.ld"});
        auto before = k.key(a, ctx);
        write_file(w.ws / "script.ld", "SECTIONS { .text : {} }");
        CHECK(k.key(a, ctx) != before);
    }
}

TEST_CASE("key: incremental mode enters K1, its directory does not", "[key][k1]") {
    TempDir dir;
    PinnedEnv pinned;
    Workspace w(dir / "ws");
    Keyer k;
    auto base = k.key(w.args(), w.ctx());
    auto incr = k.key(plus(w.args(), {"-C", "incremental=" + (w.ws / "target/debug/incremental").string()}), w.ctx());
    // An incremental result is never served to a non-incremental invocation.
    CHECK(incr != base);
    // The directory is the build's own: another target dir or checkout shares the key.
    CHECK(k.key(plus(w.args(), {"-Cincremental=/somewhere/else"}), w.ctx()) == incr);
    CHECK(k.key(plus(w.args(), {"--codegen=incremental=/x"}), w.ctx()) == incr);
    Workspace w2(dir / "other-checkout" / "ws");
    CHECK(k.key(plus(w2.args(), {"-C", "incremental=" + (w2.ws / "target/debug/incremental").string()}), w2.ctx()) ==
          incr);
    // A real codegen option next to it still counts.
    CHECK(k.key(plus(w.args(), {"-C", "incremental=/x", "-C", "opt-level=1"}), w.ctx()) != incr);

    // The component is there only for incremental compiles, so other keys stay as they were.
    auto names = [&](const std::vector<std::string>& args) {
        auto full = k.try_key(args, w.ctx());
        REQUIRE(full);
        std::vector<std::string> out;
        for (auto& c : full->components) out.push_back(c.name + "=" + c.value);
        return out;
    };
    auto plain = names(w.args());
    CHECK(std::find(plain.begin(), plain.end(), "incremental=1") == plain.end());
    auto with = names(plus(w.args(), {"-C", "incremental=/x"}));
    CHECK(std::find(with.begin(), with.end(), "incremental=1") != with.end());
    for (auto& c : with) CHECK(c.find("/x") == std::string::npos);
}

TEST_CASE("key: inputs kache cannot see are unsupported", "[key][k1]") {
    TempDir dir;
    PinnedEnv pinned;
    Workspace w(dir / "ws");
    Keyer k;

    auto missing_lib = k.try_key(plus(w.args(), {"-L", "native=" + (w.ws / "native").string(), "-l", "static=nope"}),
                                 w.ctx());
    REQUIRE_FALSE(missing_lib);
    CHECK(missing_lib.error().kind == ErrorKind::unsupported);

    auto no_search_path = k.try_key(plus(w.args(), {"-l", "static=foo"}), w.ctx());
    REQUIRE_FALSE(no_search_path);
    CHECK(no_search_path.error().kind == ErrorKind::unsupported);

    auto missing_spec = k.try_key(plus(w.args(), {"--target", (w.ws / "nope.json").string()}), w.ctx());
    REQUIRE_FALSE(missing_spec);
    CHECK(missing_spec.error().kind == ErrorKind::unsupported);

    auto missing_profile = k.try_key(plus(w.args(), {"-C", "profile-use=" + (w.ws / "nope.profdata").string()}),
                                     w.ctx());
    REQUIRE_FALSE(missing_profile);
    CHECK(missing_profile.error().kind == ErrorKind::unsupported);

    // A missing --extern file is an error too (never a key without its content).
    fs::remove(w.deps / "libdep-1111.rlib");
    CHECK_FALSE(k.try_key(w.args(), w.ctx()));
}

// ---- input sets and K2 ----

TEST_CASE("key: InputSet digest and result_key", "[key][k2]") {
    auto d1 = hash::of("one"), d2 = hash::of("two");
    key::InputSet a;
    a.files = {{"{{kache:cwd}}/src/a.rs", d1}, {"{{kache:cwd}}/src/b.rs", d2}};
    a.env = {{"OUT_DIR", "{{kache:target}}/out"}, {"UNSET", std::nullopt}};
    a.created_ms = 1000;

    key::InputSet same = a;
    same.created_ms = 99999; // when it was recorded does not matter
    CHECK(same.digest() == a.digest());
    CHECK(same == a);

    key::InputSet swapped = a; // same paths, contents swapped
    swapped.files[0].digest = d2;
    swapped.files[1].digest = d1;
    CHECK(swapped.digest() != a.digest());
    CHECK_FALSE(swapped == a);

    key::InputSet reordered = a; // the list is order-sensitive (callers sort it)
    std::swap(reordered.files[0], reordered.files[1]);
    CHECK(reordered.digest() != a.digest());

    key::InputSet renamed = a;
    renamed.files[0].path = "{{kache:cwd}}/src/c.rs";
    CHECK(renamed.digest() != a.digest());

    key::InputSet env_changed = a;
    env_changed.env[0].second = "{{kache:target}}/out2";
    CHECK(env_changed.digest() != a.digest());

    key::InputSet unset_vs_empty = a;
    unset_vs_empty.env[1].second = "";
    CHECK(unset_vs_empty.digest() != a.digest());

    key::InputSet fewer = a;
    fewer.files.pop_back();
    CHECK(fewer.digest() != a.digest());

    // Moving a file name into an env value must not collide.
    key::InputSet x, y;
    x.files = {{"A", d1}};
    y.env = {{"A", std::nullopt}};
    CHECK(x.digest() != y.digest());

    auto k1 = hash::of("k1"), other_k1 = hash::of("k1'");
    CHECK(key::result_key(k1, a) == key::result_key(k1, same));
    CHECK(key::result_key(k1, a) != key::result_key(k1, swapped));
    CHECK(key::result_key(k1, a) != key::result_key(other_k1, a));
    CHECK(key::result_key(k1, a) != k1);
}

TEST_CASE("key: is_steering_env", "[key]") {
    for (const char* yes : {"CARGO_PKG_NAME", "CARGO_PKG_VERSION", "CARGO_MANIFEST_DIR", "CARGO_CRATE_NAME",
                            "CARGO_FEATURE_STD", "CARGO_CFG_TARGET_OS", "CARGO_BIN_EXE_app", "OUT_DIR",
                            "RUSTC_BOOTSTRAP", "SOURCE_DATE_EPOCH", "CLIPPY_ARGS", "LIBRARY_PATH",
                            "MACOSX_DEPLOYMENT_TARGET", "CARGO_PRIMARY_PACKAGE", "CARGO"}) {
        INFO(yes);
        CHECK(key::is_steering_env(yes));
    }
    for (const char* no : {"PATH", "HOME", "TERM", "RUSTC_WRAPPER", "CARGO_MAKEFLAGS", "KACHE_LOG", "PWD",
                           "CARGO_HOME", "USER", "CARGOX", "SSH_AUTH_SOCK"}) {
        INFO(no);
        CHECK_FALSE(key::is_steering_env(no));
    }
}

TEST_CASE("key: the linker's variables", "[key]") {
    for (const char* yes : {"LD_RUN_PATH", "LIBRARY_PATH", "COMPILER_PATH", "GCC_EXEC_PREFIX"}) {
        INFO(yes);
        CHECK(key::is_linker_env(yes));
        CHECK(key::is_steering_env(yes));
    }
    for (const char* yes : {"RUSTC_FORCE_RUSTC_VERSION", "DEVELOPER_DIR", "IPHONEOS_DEPLOYMENT_TARGET", "SDKROOT"}) {
        INFO(yes);
        CHECK(key::is_steering_env(yes));
        CHECK_FALSE(key::is_linker_env(yes));
    }
    for (const char* no : {"LD_LIBRARY_PATH", "RUST_MIN_STACK", "RUSTC_LINKER"}) {
        INFO(no);
        CHECK_FALSE(key::is_steering_env(no));
    }
}

TEST_CASE("key: wants_native_cpu", "[key]") {
    auto wants = [](std::vector<std::string> args) {
        args.insert(args.end(), {"--crate-name", "a", "src/lib.rs"});
        auto inv = rustc::parse(args, "/");
        REQUIRE(inv);
        return key::wants_native_cpu(*inv);
    };
    CHECK(wants({"-C", "target-cpu=native"}));
    CHECK(wants({"-Ctarget-cpu=native"}));
    CHECK(wants({"-Ctarget_cpu=native"}));
    CHECK(wants({"--codegen", "target-cpu=native"}));
    CHECK_FALSE(wants({}));
    CHECK_FALSE(wants({"-C", "target-cpu=x86-64-v3"}));
    CHECK_FALSE(wants({"-C", "target-cpu=native", "-C", "target-cpu=znver4"})); // the last one wins
    CHECK(wants({"-C", "target-cpu=znver4", "-Ctarget-cpu=native"}));
}
