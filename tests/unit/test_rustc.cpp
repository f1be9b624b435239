// kache::rustc: the command-line model (parse, passthrough decisions, expected outputs).
#include <kache/rustc.hpp>

#include "core_test_support.hpp"

#include <algorithm>

using namespace kache;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

using Args = std::vector<std::string>;

rustc::Invocation parse_ok(const Args& args, const fs::path& cwd = "/tmp") {
    auto inv = rustc::parse(args, cwd);
    INFO((inv ? std::string() : inv.error().message));
    REQUIRE(inv);
    return std::move(*inv);
}

// The serde command line as cargo 0.66 runs it (copied from a real build).
Args serde_args() {
    return {"--crate-name", "serde", "--edition=2018", "/usr/share/cargo/registry/serde-1.0.152/src/lib.rs",
            "--error-format=json", "--json=diagnostic-rendered-ansi,artifacts,future-incompat", "--crate-type", "lib",
            "--emit=dep-info,metadata,link", "-C", "embed-bitcode=no", "-C", "debuginfo=2", "--cfg",
            "feature=\"std\"", "-C", "metadata=38a42b8bed6c9ddc", "-C", "extra-filename=-0d7ba56d1438709b",
            "--out-dir", "/tmp/x/target/debug/deps", "-L", "dependency=/tmp/x/target/debug/deps", "--extern",
            "serde_derive=/tmp/x/target/debug/deps/libserde_derive-eb9a.so", "--cap-lints", "allow"};
}

// A minimal primary compile to vary.
Args base_args() {
    return {"--crate-name", "foo", "src/lib.rs", "--crate-type", "lib", "--emit=dep-info,metadata,link",
            "--out-dir", "/tmp/t/target/debug/deps"};
}

Args with(Args a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
}

bool has_arg(const rustc::Invocation& inv, const std::string& flag, const std::string& value) {
    return std::find(inv.args.begin(), inv.args.end(), rustc::Arg{flag, value}) != inv.args.end();
}

} // namespace

TEST_CASE("rustc: parses a real cargo command line", "[rustc]") {
    auto inv = parse_ok(serde_args());
    INFO(inv.passthrough_reason.value_or(""));
    CHECK_FALSE(inv.passthrough_reason);
    CHECK(inv.crate_name == "serde");
    CHECK(inv.crate_types == std::vector<std::string>{"lib"});
    CHECK(inv.source == "/usr/share/cargo/registry/serde-1.0.152/src/lib.rs");
    CHECK(inv.emit == std::set<std::string>{"dep-info", "metadata", "link"});
    CHECK(inv.out_dir == "/tmp/x/target/debug/deps");
    CHECK(inv.extra_filename == "-0d7ba56d1438709b");
    CHECK(inv.out_file.empty());
    CHECK_FALSE(inv.incremental);
    CHECK_FALSE(inv.test);
    CHECK_FALSE(inv.user_remap_scope);
    CHECK(inv.argfiles.empty());

    REQUIRE(inv.externs.size() == 1);
    CHECK(inv.externs[0].name == "serde_derive");
    CHECK(inv.externs[0].path == "/tmp/x/target/debug/deps/libserde_derive-eb9a.so");
    REQUIRE(inv.search_paths.size() == 1);
    CHECK(inv.search_paths[0].kind == "dependency");
    CHECK(inv.search_paths[0].path == "/tmp/x/target/debug/deps");
    CHECK(inv.libs.empty());

    // Every option is kept, in order, in canonical form.
    CHECK(inv.args.front() == rustc::Arg{"--crate-name", "serde"});
    CHECK(inv.args[1] == rustc::Arg{"--edition", "2018"});
    CHECK(inv.args[2] == rustc::Arg{"", "/usr/share/cargo/registry/serde-1.0.152/src/lib.rs"});
    CHECK(has_arg(inv, "--cfg", "feature=\"std\""));
    CHECK(has_arg(inv, "-C", "metadata=38a42b8bed6c9ddc"));
    CHECK(has_arg(inv, "-C", "debuginfo=2"));
    CHECK(has_arg(inv, "--json", "diagnostic-rendered-ansi,artifacts,future-incompat"));
    CHECK(inv.args.back() == rustc::Arg{"--cap-lints", "allow"});
    CHECK(inv.args.size() == 16);

    CHECK(inv.expected_outputs() == std::vector<std::string>{"libserde-0d7ba56d1438709b.rlib",
                                                            "libserde-0d7ba56d1438709b.rmeta",
                                                            "serde-0d7ba56d1438709b.d"});
    CHECK(inv.dep_info_name() == "serde-0d7ba56d1438709b.d");
    CHECK_FALSE(inv.links());
}

TEST_CASE("rustc: glued and separated spellings parse the same", "[rustc]") {
    auto glued = parse_ok({"--crate-name=foo", "src/lib.rs", "--crate-type=lib", "--emit=dep-info,metadata",
                           "-Cextra-filename=-abc", "-Copt-level=3", "-Ldependency=/x/deps", "-Lnative=/x/native",
                           "-lstatic=bar", "--out-dir=/x/deps", "--extern=dep=/x/deps/libdep.rlib",
                           "--codegen=debuginfo=2"});
    auto split = parse_ok({"--crate-name", "foo", "src/lib.rs", "--crate-type", "lib", "--emit", "dep-info,metadata",
                           "-C", "extra-filename=-abc", "-C", "opt-level=3", "-L", "dependency=/x/deps", "-L",
                           "native=/x/native", "-l", "static=bar", "--out-dir", "/x/deps", "--extern",
                           "dep=/x/deps/libdep.rlib", "--codegen", "debuginfo=2"});
    for (auto* inv : {&glued, &split}) {
        INFO(inv->passthrough_reason.value_or(""));
        CHECK_FALSE(inv->passthrough_reason);
        CHECK(inv->crate_name == "foo");
        CHECK(inv->extra_filename == "-abc");
        CHECK(inv->emit == std::set<std::string>{"dep-info", "metadata"});
        CHECK(inv->out_dir == "/x/deps");
        REQUIRE(inv->search_paths.size() == 2);
        CHECK(inv->search_paths[0].kind == "dependency");
        CHECK(inv->search_paths[0].path == "/x/deps");
        CHECK(inv->search_paths[1].kind == "native");
        CHECK(inv->search_paths[1].path == "/x/native");
        REQUIRE(inv->libs.size() == 1);
        CHECK(inv->libs[0].kind == "static");
        CHECK(inv->libs[0].name == "bar");
        REQUIRE(inv->externs.size() == 1);
        CHECK(inv->externs[0].name == "dep");
        CHECK(inv->externs[0].path == "/x/deps/libdep.rlib");
        CHECK(has_arg(*inv, "-C", "opt-level=3"));
        CHECK(has_arg(*inv, "-C", "debuginfo=2")); // --codegen is -C
    }
    CHECK(glued.args == split.args);
    CHECK(glued.expected_outputs() == std::vector<std::string>{"foo-abc.d", "libfoo-abc.rmeta"});
}

TEST_CASE("rustc: -C incremental is detected in every spelling", "[rustc]") {
    CHECK_FALSE(parse_ok(base_args()).incremental);
    CHECK(parse_ok(with(base_args(), {"-C", "incremental=/tmp/t/target/debug/incremental"})).incremental);
    CHECK(parse_ok(with(base_args(), {"-Cincremental=/tmp/inc"})).incremental);
    CHECK(parse_ok(with(base_args(), {"--codegen=incremental=/tmp/inc"})).incremental);
    auto inv = parse_ok(with(base_args(), {"-C", "incremental=/tmp/inc"}));
    CHECK_FALSE(inv.passthrough_reason); // incremental compiles are still cacheable
}

TEST_CASE("rustc: cases kache does not handle pass through", "[rustc][passthrough]") {
    auto reason = [](const Args& a) { return parse_ok(a).passthrough_reason; };

    CHECK_FALSE(reason(base_args()));
    CHECK(reason({"-vV"}));
    CHECK(reason({"-V"}));
    CHECK(reason({"--version"}));
    CHECK(reason({"-", "--crate-name", "___", "--print=file-names", "--crate-type", "bin"}));
    CHECK(reason({"--print", "cfg"}));
    CHECK(reason(with(base_args(), {"--print", "sysroot"})));
    CHECK(reason(with(base_args(), {"--print=cfg"})));

    // stdin as the input
    auto stdin_args = base_args();
    stdin_args[2] = "-";
    auto in = parse_ok(stdin_args);
    CHECK(in.source == "-");
    CHECK(in.passthrough_reason);

    // outputs kache cannot restore
    auto asm_args = base_args();
    asm_args[5] = "--emit=asm";
    CHECK(reason(asm_args));
    asm_args[5] = "--emit=dep-info,llvm-ir";
    CHECK(reason(asm_args));
    auto path_args = base_args();
    path_args[5] = "--emit=link=/tmp/out.rlib";
    CHECK(reason(path_args));
    path_args[5] = "--emit=dep-info=/tmp/x.d,metadata";
    CHECK(reason(path_args));
    CHECK(reason(with(base_args(), {"-o", "/tmp/out"})));
    CHECK(reason(with(base_args(), {"-o/tmp/out"})));

    // things kache does not understand
    CHECK(reason(with(base_args(), {"--frobnicate"})));
    CHECK(reason(with(base_args(), {"--frobnicate=yes"})));
    CHECK(reason(with(base_args(), {"other.rs"}))); // two inputs
    CHECK(reason(with(base_args(), {"--crate-type", "weird"})));
    CHECK(reason(with(base_args(), {"-C", "save-temps"})));
    CHECK(reason(with(base_args(), {"-C", "profile-generate=/tmp/pgo"})));
    CHECK(reason(with(base_args(), {"-Z", "unpretty=expanded"})));
    CHECK(reason(with(base_args(), {"--cap-lints"}))); // an option without its value

    // missing essentials
    CHECK(reason({"src/lib.rs", "--crate-type", "lib", "--emit=link", "--out-dir", "/tmp/o"}));
    CHECK(reason({"--crate-name", "foo", "--crate-type", "lib", "--emit=link", "--out-dir", "/tmp/o"}));
    CHECK(reason({"--crate-name", "foo", "src/lib.rs", "--crate-type", "lib", "--emit=link"}));
}

TEST_CASE("rustc: expected outputs per crate type", "[rustc]") {
    auto outputs = [](const std::string& type, const std::string& emit = "--emit=dep-info,link") {
        Args a = {"--crate-name", "app", "src/main.rs", "--crate-type", type, emit, "-C", "extra-filename=-1234",
                  "--out-dir", "/tmp/o"};
        auto inv = parse_ok(a);
        INFO(inv.passthrough_reason.value_or(""));
        CHECK_FALSE(inv.passthrough_reason);
        return inv;
    };
    auto bin = outputs("bin");
    CHECK(bin.expected_outputs() == std::vector<std::string>{"app-1234", "app-1234.d"});
    CHECK(bin.links());
    auto pm = outputs("proc-macro");
    CHECK(pm.expected_outputs() == std::vector<std::string>{"app-1234.d", "libapp-1234.so"});
    CHECK(pm.links());
    auto cdylib = outputs("cdylib");
    CHECK(cdylib.expected_outputs() == std::vector<std::string>{"app-1234.d", "libapp-1234.so"});
    CHECK(cdylib.links());
    auto staticlib = outputs("staticlib");
    CHECK(staticlib.expected_outputs() == std::vector<std::string>{"app-1234.d", "libapp-1234.a"});
    CHECK(staticlib.links());
    auto rlib = outputs("rlib");
    CHECK(rlib.expected_outputs() == std::vector<std::string>{"app-1234.d", "libapp-1234.rlib"});
    CHECK_FALSE(rlib.links());

    // cargo check of a bin: metadata only
    auto check = outputs("bin", "--emit=dep-info,metadata");
    CHECK(check.expected_outputs() == std::vector<std::string>{"app-1234.d", "libapp-1234.rmeta"});

    // several crate types at once, and no dep-info
    auto multi = parse_ok({"--crate-name", "m", "src/lib.rs", "--crate-type", "lib", "--crate-type", "cdylib",
                           "--emit=link", "--out-dir", "/tmp/o"});
    CHECK(multi.crate_types == std::vector<std::string>{"lib", "cdylib"});
    CHECK(multi.expected_outputs() == std::vector<std::string>{"libm.rlib", "libm.so"});
    CHECK(multi.dep_info_name().empty());
    CHECK(multi.links());

    // no --crate-type means bin
    auto dflt = parse_ok({"--crate-name", "d", "src/main.rs", "--emit=link", "--out-dir", "/tmp/o"});
    CHECK(dflt.crate_types.empty());
    CHECK(dflt.expected_outputs() == std::vector<std::string>{"d"});
    CHECK(dflt.links());
}

TEST_CASE("rustc: native libraries and search paths", "[rustc]") {
    auto inv = parse_ok(with(base_args(), {"-l", "static=foo", "-l", "static:+whole-archive=bar", "-l", "dylib=z",
                                           "-l", "plain", "-l", "static:-bundle,+verbatim=libq.a", "-l",
                                           "static=orig:renamed", "-L", "native=/opt/native", "-L", "/opt/any",
                                           "-L", "all=/opt/all", "-L", "crate=/opt/crate"}));
    CHECK_FALSE(inv.passthrough_reason);
    REQUIRE(inv.libs.size() == 6);
    CHECK(inv.libs[0].kind == "static");
    CHECK(inv.libs[0].modifiers.empty());
    CHECK(inv.libs[0].name == "foo");
    CHECK(inv.libs[1].kind == "static");
    CHECK(inv.libs[1].modifiers == "+whole-archive");
    CHECK(inv.libs[1].name == "bar");
    CHECK(inv.libs[2].kind == "dylib");
    CHECK(inv.libs[2].name == "z");
    CHECK(inv.libs[3].kind.empty());
    CHECK(inv.libs[3].name == "plain");
    CHECK(inv.libs[4].kind == "static");
    CHECK(inv.libs[4].modifiers == "-bundle,+verbatim");
    CHECK(inv.libs[4].name == "libq.a");
    CHECK(inv.libs[5].name == "orig");

    REQUIRE(inv.search_paths.size() == 4);
    CHECK(inv.search_paths[0].kind == "native");
    CHECK(inv.search_paths[0].path == "/opt/native");
    CHECK(inv.search_paths[1].kind.empty());
    CHECK(inv.search_paths[1].path == "/opt/any");
    CHECK(inv.search_paths[2].kind == "all");
    CHECK(inv.search_paths[2].path == "/opt/all");
    CHECK(inv.search_paths[3].kind == "crate");

    // A path that merely contains '=' is not a kind.
    auto eq = parse_ok(with(base_args(), {"-L", "/opt/a=b/lib"}));
    REQUIRE(eq.search_paths.size() == 1);
    CHECK(eq.search_paths[0].kind.empty());
    CHECK(eq.search_paths[0].path == "/opt/a=b/lib");
}

TEST_CASE("rustc: other typed fields", "[rustc]") {
    auto inv = parse_ok(with(base_args(), {"--target", "x86_64-unknown-linux-gnu", "--sysroot", "/opt/sysroot", "-C",
                                           "linker=/usr/bin/cc", "-C", "link-arg=-Wl,-z,relro", "-C",
                                           "link-args=-lfoo -lbar", "-C", "profile-use=/tmp/p.profdata", "--test",
                                           "--extern", "priv:hidden=/x/libhidden.rlib", "--extern", "proc_macro",
                                           "-C", "link_arg=-Tscript.ld"}));
    // Parsed, and passed through: a custom sysroot is not keyed.
    CHECK(inv.passthrough_reason == "--sysroot (a custom sysroot is not keyed)");
    CHECK(inv.target == "x86_64-unknown-linux-gnu");
    CHECK(inv.sysroot == "/opt/sysroot");
    CHECK(inv.linker == "/usr/bin/cc");
    CHECK(inv.link_args == std::vector<std::string>{"-Wl,-z,relro", "-lfoo", "-lbar", "-Tscript.ld"});
    CHECK(inv.profile_use == "/tmp/p.profdata");
    CHECK(inv.test);
    REQUIRE(inv.externs.size() == 2);
    CHECK(inv.externs[0].name == "hidden");
    CHECK(inv.externs[0].path == "/x/libhidden.rlib");
    CHECK(inv.externs[1].name == "proc_macro");
    CHECK(inv.externs[1].path.empty());
}

TEST_CASE("rustc: @argfiles are expanded and recorded", "[rustc][argfile]") {
    TempDir dir;
    write_file(dir / "args.txt", "--crate-name\nfromfile\n--crate-type\nlib\r\n--cfg\nfeature=\"a b\"\n-C\nopt-level=2");
    write_file(dir / "sub" / "more.txt", "--emit=dep-info,link\n--out-dir\n/tmp/o\n");

    auto inv = parse_ok({"@args.txt", "src/lib.rs", "@" + (dir / "sub" / "more.txt").string()}, dir.path());
    INFO(inv.passthrough_reason.value_or(""));
    CHECK_FALSE(inv.passthrough_reason);
    CHECK(inv.crate_name == "fromfile");
    CHECK(inv.crate_types == std::vector<std::string>{"lib"}); // "\r\n" line ending stripped
    CHECK(has_arg(inv, "--cfg", "feature=\"a b\"")); // one argument per line, spaces kept
    CHECK(has_arg(inv, "-C", "opt-level=2"));
    CHECK(inv.emit == std::set<std::string>{"dep-info", "link"});
    CHECK(inv.out_dir == "/tmp/o");
    REQUIRE(inv.argfiles.size() == 2);
    CHECK(fs::path(inv.argfiles[0]) == dir / "args.txt"); // relative to cwd
    CHECK(fs::path(inv.argfiles[1]) == dir / "sub" / "more.txt");
    // The args are the expansion, in place of the @file.
    CHECK(inv.args.front() == rustc::Arg{"--crate-name", "fromfile"});

    // An unreadable argfile is the one thing parse reports as an error.
    auto missing = rustc::parse({"@nope.txt", "src/lib.rs"}, dir.path());
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
}

TEST_CASE("rustc: --remap-path-scope marks user_remap_scope", "[rustc]") {
    CHECK_FALSE(parse_ok(base_args()).user_remap_scope);
    auto sep = parse_ok(with(base_args(), {"--remap-path-scope", "object"}));
    CHECK(sep.user_remap_scope);
    CHECK(has_arg(sep, "--remap-path-scope", "object"));
    CHECK(parse_ok(with(base_args(), {"--remap-path-scope=macro,diagnostics"})).user_remap_scope);
    // A user's own --remap-path-prefix is cached, and marked: kache's remapping is then off.
    CHECK_FALSE(parse_ok(base_args()).user_remap_prefix);
    auto prefix = parse_ok(with(base_args(), {"--remap-path-prefix", "/home/u=/src"}));
    CHECK_FALSE(prefix.user_remap_scope);
    CHECK(prefix.user_remap_prefix);
    CHECK_FALSE(prefix.passthrough_reason);
    CHECK(parse_ok(with(base_args(), {"--remap-path-prefix=/home/u=/src"})).user_remap_prefix);
    CHECK(parse_ok(with(base_args(), {"-Zremap-cwd-prefix=."})).user_remap_prefix);
    CHECK(parse_ok(with(base_args(), {"-Z", "remap-path-scope=object"})).user_remap_scope);
}

TEST_CASE("rustc: value-less flags and the codegen option name", "[rustc]") {
    CHECK(rustc::takes_value("-C"));
    CHECK(rustc::takes_value("--extern"));
    CHECK(rustc::takes_value("--error-format"));
    CHECK_FALSE(rustc::takes_value("--test"));
    CHECK_FALSE(rustc::takes_value("-O"));
    CHECK_FALSE(rustc::takes_value("-g"));
    CHECK_FALSE(rustc::takes_value(""));
    CHECK(rustc::codegen_option_name("incremental=/tmp/x") == "incremental");
    CHECK(rustc::codegen_option_name("extra_filename=-abc") == "extra-filename");
    CHECK(rustc::codegen_option_name("debug-assertions") == "debug-assertions");
    CHECK(rustc::is_incremental({"-C", "incremental=/tmp/x"}));
    CHECK_FALSE(rustc::is_incremental({"-Z", "incremental=/tmp/x"}));
    CHECK_FALSE(rustc::is_incremental({"-C", "incremental-verify-ich"}));
}

TEST_CASE("rustc: command_line rebuilds the arguments in canonical form", "[rustc]") {
    auto inv = parse_ok({"--crate-name", "foo", "--edition=2021", "src/lib.rs", "--test", "-O", "-Cincremental=/tmp/inc",
                         "--codegen", "opt-level=3", "-g", "--crate-type", "lib", "--emit=dep-info,link", "--out-dir",
                         "/tmp/t/deps"});
    Args all = {"--crate-name", "foo", "--edition", "2021", "src/lib.rs", "--test", "-O", "-C", "incremental=/tmp/inc",
                "-C", "opt-level=3", "-g", "--crate-type", "lib", "--emit", "dep-info,link", "--out-dir", "/tmp/t/deps"};
    CHECK(inv.command_line() == all); // -C incremental kept: members compile incrementally
    // Parsing the rebuilt line gives the same invocation.
    CHECK(parse_ok(inv.command_line()).args == inv.args);
}

TEST_CASE("rustc: json_errors follows --error-format", "[rustc]") {
    CHECK_FALSE(parse_ok(base_args()).json_errors());
    CHECK(parse_ok(with(base_args(), {"--error-format=json"})).json_errors());
    CHECK(parse_ok(with(base_args(), {"--error-format", "json-pretty"})).json_errors());
    CHECK_FALSE(parse_ok(with(base_args(), {"--error-format=human"})).json_errors());
    CHECK(parse_ok(serde_args()).json_errors());
}
