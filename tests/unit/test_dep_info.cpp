// kache::rustc dep-info: parsing rustc's `.d` format and writing it back.
#include <kache/rustc.hpp>

#include "core_test_support.hpp"

using namespace kache;
using Env = std::vector<std::pair<std::string, std::optional<std::string>>>;

namespace {

rustc::DepInfo parse_ok(std::string_view text) {
    auto d = rustc::parse_dep_info(text);
    INFO((d ? std::string() : d.error().message));
    REQUIRE(d);
    return std::move(*d);
}

// Semantic equality: rules (target and deps), env-deps and comments.
void check_same(const rustc::DepInfo& a, const rustc::DepInfo& b) {
    REQUIRE(a.rules.size() == b.rules.size());
    for (size_t i = 0; i < a.rules.size(); ++i) {
        CHECK(a.rules[i].target == b.rules[i].target);
        CHECK(a.rules[i].deps == b.rules[i].deps);
    }
    CHECK(a.env_deps == b.env_deps);
    CHECK(a.comments == b.comments);
}

// What rustc writes for a bin with a build-script output and env!() uses.
const char* k_rustc_dep_info =
    "/w/target/debug/deps/app-1234.d: src/main.rs src/my\\ mod.rs /w/target/debug/build/app-99/out/gen.rs\n"
    "\n"
    "/w/target/debug/deps/app-1234: src/main.rs src/my\\ mod.rs /w/target/debug/build/app-99/out/gen.rs\n"
    "\n"
    "src/main.rs:\n"
    "src/my\\ mod.rs:\n"
    "/w/target/debug/build/app-99/out/gen.rs:\n"
    "\n"
    "# env-dep:CARGO_PKG_VERSION=0.1.0\n"
    "# env-dep:OUT_DIR=/w/target/debug/build/app-99/out\n"
    "# env-dep:MULTI=line1\\nline2\\\\back\\rx\n"
    "# env-dep:UNSET_VAR\n"
    "# env-dep:EMPTY=\n"
    "# checksum:blake3=abc:12:src/main.rs\n";

} // namespace

TEST_CASE("dep-info: parses rustc's format", "[dep_info]") {
    auto d = parse_ok(k_rustc_dep_info);

    REQUIRE(d.rules.size() == 5);
    CHECK(d.rules[0].target == "/w/target/debug/deps/app-1234.d");
    CHECK(d.rules[0].deps == std::vector<std::string>{"src/main.rs", "src/my mod.rs",
                                                      "/w/target/debug/build/app-99/out/gen.rs"});
    CHECK(d.rules[1].target == "/w/target/debug/deps/app-1234");
    CHECK(d.rules[1].deps == d.rules[0].deps);
    // phony rules: a target with no prerequisites
    CHECK(d.rules[2].target == "src/main.rs");
    CHECK(d.rules[2].deps.empty());
    CHECK(d.rules[3].target == "src/my mod.rs"); // escaped space in a target
    CHECK(d.rules[3].deps.empty());
    CHECK(d.rules[4].target == "/w/target/debug/build/app-99/out/gen.rs");

    REQUIRE(d.env_deps.size() == 5);
    CHECK(d.env_deps[0] == std::pair<std::string, std::optional<std::string>>{"CARGO_PKG_VERSION", "0.1.0"});
    CHECK(d.env_deps[1].first == "OUT_DIR");
    CHECK(d.env_deps[1].second == "/w/target/debug/build/app-99/out");
    CHECK(d.env_deps[2].first == "MULTI");
    CHECK(d.env_deps[2].second == std::string("line1\nline2\\back\rx"));
    CHECK(d.env_deps[3].first == "UNSET_VAR");
    CHECK_FALSE(d.env_deps[3].second.has_value()); // no '=' means unset
    CHECK(d.env_deps[4].first == "EMPTY");
    REQUIRE(d.env_deps[4].second.has_value()); // '=' with nothing after means set to ""
    CHECK(d.env_deps[4].second->empty());

    CHECK(d.comments == std::vector<std::string>{"# checksum:blake3=abc:12:src/main.rs"});
}

TEST_CASE("dep-info: inputs() lists each prerequisite once, in first-seen order", "[dep_info]") {
    auto d = parse_ok(k_rustc_dep_info);
    CHECK(d.inputs() == std::vector<std::string>{"src/main.rs", "src/my mod.rs",
                                                 "/w/target/debug/build/app-99/out/gen.rs"});

    auto e = parse_ok("a.rmeta: z.rs y.rs z.rs\nb.rlib: x.rs y.rs w.rs\n");
    CHECK(e.inputs() == std::vector<std::string>{"z.rs", "y.rs", "x.rs", "w.rs"});

    CHECK(parse_ok("").inputs().empty());
}

TEST_CASE("dep-info: blank lines, CRLF and extra spaces are tolerated", "[dep_info]") {
    auto d = parse_ok("\n\nout.d:  a.rs   b.rs \r\n\r\n\na.rs:\r\nb.rs:\n\n\n");
    REQUIRE(d.rules.size() == 3);
    CHECK(d.rules[0].target == "out.d");
    CHECK(d.rules[0].deps == std::vector<std::string>{"a.rs", "b.rs"});
    CHECK(d.rules[1].target == "a.rs");
    CHECK(d.rules[2].target == "b.rs");
    // No trailing newline at the end of the file.
    auto e = parse_ok("out.d: a.rs\n# env-dep:X=1");
    REQUIRE(e.env_deps.size() == 1);
    CHECK(e.env_deps[0].second == "1");
}

TEST_CASE("dep-info: paths with colons and backslashes", "[dep_info]") {
    // A ':' not followed by a space is part of the path; a backslash not before
    // a space is kept literally.
    auto d = parse_ok("out/x.d: src/a:b.rs src/back\\slash.rs\n");
    REQUIRE(d.rules.size() == 1);
    CHECK(d.rules[0].target == "out/x.d");
    CHECK(d.rules[0].deps == std::vector<std::string>{"src/a:b.rs", "src/back\\slash.rs"});
}

TEST_CASE("dep-info: write_dep_info round-trips", "[dep_info]") {
    auto d = parse_ok(k_rustc_dep_info);
    std::string text = rustc::write_dep_info(d);
    auto again = parse_ok(text);
    check_same(d, again);
    // Writing is stable: the text of a re-parse is the same text.
    CHECK(rustc::write_dep_info(again) == text);
    // Escapes are applied on write.
    CHECK(text.find("src/my\\ mod.rs") != std::string::npos);
    CHECK(text.find("# env-dep:MULTI=line1\\nline2\\\\back\\rx\n") != std::string::npos);
    CHECK(text.find("# env-dep:UNSET_VAR\n") != std::string::npos);
    CHECK(text.find("# env-dep:EMPTY=\n") != std::string::npos);

    // Built by hand, with awkward values.
    rustc::DepInfo built;
    built.rules.push_back({"/t/out dir/lib.rmeta", {"/s/a b c.rs", "/s/plain.rs"}});
    built.rules.push_back({"/s/a b c.rs", {}});
    built.rules.push_back({"/s/plain.rs", {}});
    built.env_deps = Env{{"A", "x\ny"}, {"B", std::nullopt}, {"C", "trailing\\"}, {"D", "with = sign"}};
    auto parsed = parse_ok(rustc::write_dep_info(built));
    check_same(built, parsed);
    CHECK(parsed.inputs() == std::vector<std::string>{"/s/a b c.rs", "/s/plain.rs"});
}

TEST_CASE("dep-info: malformed text is rejected", "[dep_info]") {
    auto bad = [](std::string_view text) {
        auto d = rustc::parse_dep_info(text);
        if (d) return false;
        CHECK(d.error().kind == ErrorKind::invalid_input);
        return true;
    };
    CHECK(bad("this line has no rule separator\n"));
    CHECK(bad("out.d: a.rs\njust-a-word\n"));
    CHECK(bad("out.d: a.rs\n# env-dep:X=dangling\\\n"));
    CHECK(bad("# env-dep:X=unknown\\qescape\n"));
    CHECK(bad("# env-dep:BAD\\xNAME=1\n"));
    // The same text with valid escapes parses.
    CHECK(rustc::parse_dep_info("out.d: a.rs\n# env-dep:X=ok\\\\\n").has_value());
}

TEST_CASE("dep-info: map_paths rewrites targets, prerequisites and env-dep values", "[dep_info]") {
    auto dep = rustc::parse_dep_info(k_rustc_dep_info);
    REQUIRE(dep);
    auto comments = dep->comments;
    dep->map_paths([](const std::string& p) { return p.starts_with("/w/") ? "{{kache:cwd}}/" + p.substr(3) : p; });
    CHECK(dep->rules[0].target == "{{kache:cwd}}/target/debug/deps/app-1234.d");
    CHECK(dep->rules[0].deps.back() == "{{kache:cwd}}/target/debug/build/app-99/out/gen.rs");
    CHECK(dep->rules[0].deps.front() == "src/main.rs");
    bool saw_out_dir = false;
    for (auto& [name, value] : dep->env_deps) {
        if (name == "OUT_DIR") {
            saw_out_dir = true;
            CHECK(value == "{{kache:cwd}}/target/debug/build/app-99/out");
        }
        if (name == "UNSET_VAR") CHECK_FALSE(value); // unset stays unset
    }
    CHECK(saw_out_dir);
    CHECK(dep->comments == comments); // checksums are not paths
}
