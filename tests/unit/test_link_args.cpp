// kache::rustc link args: the linker command line rustc prints, read back into
// the files the link reads.
#include <kache/rustc.hpp>

#include "core_test_support.hpp"

#include <set>

using namespace kache;
using Files = std::vector<std::string>;

namespace {

rustc::LinkInputs parse_ok(std::string_view text, std::set<std::string> existing = {}) {
    auto r = rustc::parse_link_args(text, [&](const std::string& p) { return existing.contains(p); });
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    return std::move(*r);
}

} // namespace

TEST_CASE("link args: objects, rlibs and archives in order, output and flags left out", "[link_args]") {
    auto r = parse_ok(R"(LC_ALL="C" PATH="/a:/b" VSLANG="1033" "cc" "-m64" "/t/rustcAb12Cd/symbols.o" )"
                      R"("app.app.1-cgu.0.rcgu.o" "-Wl,--as-needed" "-Wl,-Bstatic" "/w/target/deps/libmid-1.rlib" )"
                      R"("/w/out/libx.a" "-Wl,-Bdynamic" "-lgcc_s" "-lc" "-B/s/gcc-ld" "-fuse-ld=lld" )"
                      R"("-Wl,-z,relro,-z,now" "-o" "/w/target/deps/app-1" "-nodefaultlibs")");
    CHECK(r.files == Files{"/t/rustcAb12Cd/symbols.o", "app.app.1-cgu.0.rcgu.o", "/w/target/deps/libmid-1.rlib",
                           "/w/out/libx.a"});
    CHECK(r.unresolved == Files{"gcc_s", "c"});
}

TEST_CASE("link args: -l resolved against every -L dir the way ld does", "[link_args]") {
    std::set<std::string> fs{"/d1/libfoo.a", "/d2/libfoo.so", "/d2/libbar.a", "/d1/exact.a", "/d3/libst.so",
                             "/d4/libst.a"};
    SECTION("dynamic: the first directory holding either, .so before .a within one") {
        auto r = parse_ok(R"("cc" "-lfoo" "-L" "/d1" "-L/d2")", fs);
        CHECK(r.files == Files{"/d1/libfoo.a"});
        auto r2 = parse_ok(R"("cc" "-L/d2" "-L/d1" "-lfoo")", fs);
        CHECK(r2.files == Files{"/d2/libfoo.so"});
    }
    SECTION("-Bstatic takes archives only, until -Bdynamic") {
        auto r = parse_ok(R"("cc" "-L/d3" "-L/d4" "-Wl,-Bstatic" "-lst" "-Wl,-Bdynamic" "-lst")", fs);
        CHECK(r.files == Files{"/d4/libst.a", "/d3/libst.so"});
    }
    SECTION("-l:name is an exact file name; -Wl,-L and --library-path add dirs") {
        auto r = parse_ok(R"("cc" "-l:exact.a" "-Wl,-L,/d1" "-Wl,--library-path=/d2" "-Wl,-lbar")", fs);
        CHECK(r.files == Files{"/d1/exact.a", "/d2/libbar.a"});
    }
    SECTION("a name found nowhere is left to the linker's own search path") {
        auto r = parse_ok(R"("cc" "-L/d1" "-lnothere")", fs);
        CHECK(r.files.empty());
        CHECK(r.unresolved == Files{"nothere"});
    }
}

TEST_CASE("link args: scripts, version scripts, dynamic lists and response files in every spelling",
          "[link_args]") {
    auto r = parse_ok(R"("cc" "-T" "a.ld" "-Tb.ld" "-Wl,--script=c.ld" "-Wl,--script,d.ld" "-Wl,-T,e.ld" )"
                      R"("-Wl,--version-script=v1" "-Xlinker" "--version-script" "-Xlinker" "v2" )"
                      R"("-Wl,-version-script=v3" "-Wl,--dynamic-list=dl" "-Wl,@resp" "@dresp" )"
                      R"("-Wl,-Ttext=0x1000" "-Wl,-Ttext,0x2000" "-Wl,-soname,libx.so" "-Wl,-rpath,/r")");
    CHECK(r.files == Files{"a.ld", "b.ld", "c.ld", "d.ld", "e.ld", "v1", "v2", "v3", "dl", "resp", "dresp"});
}

TEST_CASE("link args: quoting and escapes as rustc prints them", "[link_args]") {
    auto r = parse_ok(R"("cc" "/p/with space/x.o" "/p/q\"uote.o" "/p/back\\slash.o" "/p/\u{e9}.o" "/p/\xff.o" bare.o)");
    CHECK(r.files == Files{"/p/with space/x.o", "/p/q\"uote.o", "/p/back\\slash.o", "/p/\xc3\xa9.o", "/p/\xff.o",
                           "bare.o"});
    CHECK(parse_ok(R"("cc" "x.o" "x.o")").files == Files{"x.o"});
}

TEST_CASE("link args: malformed text is an error, never a crash", "[link_args]") {
    auto bad = [](std::string_view t) { return !rustc::parse_link_args(t, [](const std::string&) { return true; }); };
    CHECK(bad(R"("cc" "x.o)"));
    CHECK(bad(R"("cc" "\q")"));
    CHECK(bad(R"("cc" "\x4")"));
    CHECK(bad(R"("cc" "\u{110000}")"));
    CHECK(bad(R"("cc" "\u{}")"));
    CHECK(bad("\"cc\" \"\\"));
    CHECK(bad(""));
    CHECK(bad(R"(A="1" B="2")"));
    CHECK(bad(R"(cd "/x" && "cc" "a.o")"));
    // Trailing value options with nothing after them are fine.
    CHECK(parse_ok(R"("cc" "-o")").files.empty());
    CHECK(parse_ok(R"("cc" "-Wl,-z")").files.empty());
    CHECK(parse_ok(R"("cc" "-L")").files.empty());
}
