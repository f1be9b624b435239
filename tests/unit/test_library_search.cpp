// Where native libraries and target specs are found outside the command line:
// LIBRARY_PATH's directories (after the -L ones) for -l names, RUST_TARGET_PATH
// for a --target name; and a custom --sysroot is never cached.
#include <kache/key.hpp>
#include <kache/rustc.hpp>

#include "core_test_support.hpp"

#include <set>

using namespace kache;
using kache::test::ScopedEnv;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;
using Files = std::vector<std::string>;

namespace {

rustc::LinkInputs parse_ok(std::string_view text, const std::set<std::string>& existing, const Files& library_path) {
    auto r = rustc::parse_link_args(
        text, [&](const std::string& p) { return existing.contains(p); }, library_path);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    return std::move(*r);
}

// A binary crate in a workspace, keyed with a given environment.
struct BinKeyer {
    TempDir dir{"kache-unit-libsearch"};
    fs::path ws = dir / "ws";
    TempDir cache_dir{"kache-unit-hc"};
    hash::FileHashCache hashes{cache_dir / "hc", cache_dir.path()};
    ScopedEnv home{"HOME", "/nonexistent-home"};
    ScopedEnv cargo_home{"CARGO_HOME", nullptr};
    ScopedEnv tmpdir{"TMPDIR", "/var/tmp"};

    BinKeyer() {
        write_file(ws / "src" / "main.rs", "fn main() {}\n");
        write_file(ws / "target" / "CACHEDIR.TAG", "Signature: 8a477f597d28d172789f06886806bc55\n");
    }

    std::vector<std::string> args(std::vector<std::string> extra) const {
        std::vector<std::string> a = {"--crate-name", "app", "--edition=2021", "src/main.rs", "--crate-type", "bin",
                                      "--emit=dep-info,link", "-C", "metadata=abc", "-C", "extra-filename=-abc",
                                      "--out-dir", (ws / "target" / "debug" / "deps").string()};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }

    Result<key::InvocationKey> try_key(const std::vector<std::string>& args,
                                       std::vector<std::pair<std::string, std::string>> env) {
        auto inv = rustc::parse(args, ws);
        REQUIRE(inv);
        REQUIRE_FALSE(inv->passthrough_reason);
        key::KeyContext c;
        c.compiler_identity = "rustc-identity-1";
        c.linker_identity = "linker-identity-1";
        c.env = std::move(env);
        c.cwd = ws;
        return key::invocation_key(*inv, c, key::roots_for(*inv, ws), hashes);
    }
    hash::Digest key(const std::vector<std::string>& args, std::vector<std::pair<std::string, std::string>> env) {
        auto k = try_key(args, std::move(env));
        INFO((k ? std::string() : k.error().message));
        REQUIRE(k);
        return k->digest;
    }
};

} // namespace

TEST_CASE("library search: LIBRARY_PATH's directories, an empty one meaning the working directory",
          "[link_args]") {
    CHECK(rustc::library_path_dirs("").empty());
    CHECK(rustc::library_path_dirs("/a") == Files{"/a"});
    CHECK(rustc::library_path_dirs("/a::b/") == Files{"/a", ".", "b/"});
    CHECK(rustc::library_path_dirs("/a:") == Files{"/a", "."});
}

TEST_CASE("library search: each directory in turn, names in order within one", "[link_args]") {
    std::set<std::string> fs{"/d1/libfoo.a", "/d2/libfoo.so"};
    auto is_file = [&](const std::string& p) { return fs.contains(p); };
    CHECK(rustc::find_library({"/d1", "/d2"}, {"libfoo.so", "libfoo.a"}, is_file) == "/d1/libfoo.a");
    CHECK(rustc::find_library({"/d2/", "/d1"}, {"libfoo.so", "libfoo.a"}, is_file) == "/d2/libfoo.so");
    CHECK_FALSE(rustc::find_library({"/d3"}, {"libfoo.so", "libfoo.a"}, is_file));
}

TEST_CASE("link args: -l found in a LIBRARY_PATH directory after the -L ones", "[link_args]") {
    std::set<std::string> fs{"/lp1/libfoo.a", "/lp2/libfoo.so", "/lp2/libbar.a", "/l/libbar.so", "/lp2/libst.so",
                             "/lp3/libst.a"};
    Files lp{"/lp1", "/lp2", "/lp3"};
    SECTION("found nowhere else: the first LIBRARY_PATH directory holding it") {
        auto r = parse_ok(R"("cc" "-lfoo" "-lc")", fs, lp);
        CHECK(r.files == Files{"/lp1/libfoo.a"});
        CHECK(r.unresolved == Files{"c"});
    }
    SECTION("an -L directory wins over LIBRARY_PATH") {
        auto r = parse_ok(R"("cc" "-L/l" "-lbar")", fs, lp);
        CHECK(r.files == Files{"/l/libbar.so"});
    }
    SECTION("-Bstatic skips shared libraries there too") {
        auto r = parse_ok(R"("cc" "-Wl,-Bstatic" "-lst")", fs, lp);
        CHECK(r.files == Files{"/lp3/libst.a"});
    }
    SECTION("without LIBRARY_PATH the name stays unresolved") {
        auto r = parse_ok(R"("cc" "-lfoo")", fs, {});
        CHECK(r.files.empty());
        CHECK(r.unresolved == Files{"foo"});
    }
}

TEST_CASE("link args: the places each -l search found nothing before its library are listed as absent",
          "[link_args]") {
    std::set<std::string> fs{"/b/libfoo.a", "/lp/libbar.so"};
    SECTION("shared before archive in each directory, up to the one taken") {
        auto r = parse_ok(R"("cc" "-L/a" "-L/b" "-lfoo")", fs, {"/lp"});
        CHECK(r.files == Files{"/b/libfoo.a"});
        CHECK(r.absent == Files{"/a/libfoo.so", "/a/libfoo.a", "/b/libfoo.so"});
    }
    SECTION("a name found nowhere: every place searched, LIBRARY_PATH's included, each once") {
        auto r = parse_ok(R"("cc" "-L/a" "-lc" "-lc" "-Wl,-Bstatic" "-lbar")", fs, {"/lp"});
        CHECK(r.unresolved == Files{"c", "c", "bar"});
        CHECK(r.absent == Files{"/a/libc.so", "/a/libc.a", "/lp/libc.so", "/lp/libc.a", "/a/libbar.a", "/lp/libbar.a"});
    }
}

TEST_CASE("key: an -l library found through LIBRARY_PATH is keyed by content", "[key][k1]") {
    BinKeyer k;
    write_file(k.dir / "lp" / "libfoo.a", "!<arch>\nfoo v1");
    std::vector<std::pair<std::string, std::string>> env = {{"LIBRARY_PATH", (k.dir / "empty").string() + ":" +
                                                                                 (k.dir / "lp").string()}};
    auto args = k.args({"-l", "foo"});
    auto before = k.key(args, env);
    write_file(k.dir / "lp" / "libfoo.a", "!<arch>\nfoo v2");
    CHECK(k.key(args, env) != before);
    // A static one too (where rustc leaves the search to the linker).
    auto st = k.args({"-l", "static=foo"});
    auto st_before = k.key(st, env);
    write_file(k.dir / "lp" / "libfoo.a", "!<arch>\nfoo v3");
    CHECK(k.key(st, env) != st_before);
    // Found nowhere: a system library, keyed by name as before.
    auto sys = k.args({"-l", "m"});
    CHECK(k.try_key(sys, env));
}

TEST_CASE("key: --target NAME found in RUST_TARGET_PATH is keyed by the spec's content", "[key][k1]") {
    BinKeyer k;
    write_file(k.dir / "specs" / "my-target.json", "{\"llvm-target\": \"x86_64-unknown-none\"}");
    std::vector<std::pair<std::string, std::string>> env = {{"RUST_TARGET_PATH", (k.dir / "none").string() + ":" +
                                                                                     (k.dir / "specs").string()}};
    auto args = k.args({"--target", "my-target"});
    auto before = k.key(args, env);
    write_file(k.dir / "specs" / "my-target.json", "{\"llvm-target\": \"aarch64-unknown-none\"}");
    CHECK(k.key(args, env) != before);
    // A name RUST_TARGET_PATH does not hold (a built-in target) keys as before.
    CHECK(k.try_key(k.args({"--target", "x86_64-unknown-linux-gnu"}), env));
}

TEST_CASE("rustc: a custom --sysroot is passed through", "[rustc]") {
    for (auto& extra : {std::vector<std::string>{"--sysroot", "/opt/sysroot"},
                        std::vector<std::string>{"--sysroot=/opt/sysroot"}}) {
        std::vector<std::string> args = {"--crate-name", "a", "src/lib.rs", "--crate-type", "lib",
                                         "--emit=link", "--out-dir", "/t"};
        args.insert(args.end(), extra.begin(), extra.end());
        auto inv = rustc::parse(args, "/w");
        REQUIRE(inv);
        CHECK(inv->passthrough_reason);
        CHECK(inv->sysroot == "/opt/sysroot");
    }
}
