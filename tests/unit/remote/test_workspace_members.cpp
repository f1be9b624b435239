// Reading the workspace's members out of `cargo metadata --no-deps` output
// (lib/remote/workspace_members.cpp), for `kache sync --workspace`.
#include <kache/remote/sync.hpp>

#include <catch2/catch.hpp>

using namespace kache::remote;

TEST_CASE("workspace members: names from cargo metadata, made key-safe", "[workspace-members]") {
    auto m = parse_workspace_members(
        R"({"packages":[{"name":"app","version":"0.1.0"},{"name":"my-lib","version":"1.0.0"},)"
        R"({"name":"odd name","version":"0.1.0"}],"workspace_members":[],"version":1})");
    REQUIRE(m);
    CHECK(*m == std::set<std::string>{"app", "my-lib", "odd_name"});
}

TEST_CASE("workspace members: output that is not cargo's metadata is refused", "[workspace-members]") {
    CHECK(!parse_workspace_members(""));
    CHECK(!parse_workspace_members("not json"));
    CHECK(!parse_workspace_members(R"({"version":1})"));
    CHECK(!parse_workspace_members(R"({"packages":[]})"));
    CHECK(!parse_workspace_members(R"({"packages":[{"version":"1"}]})"));
    CHECK(!parse_workspace_members(R"({"packages":[{"name":""}]})"));
    CHECK(!parse_workspace_members(R"({"packages":[{"name":42}]})"));
}
