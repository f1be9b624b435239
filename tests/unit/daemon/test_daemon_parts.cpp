// Smaller daemon parts: the log's level filter and rotation, the cargo
// metadata graph order, the systemd unit's text.
#include "../../../lib/daemon/cargo_metadata.hpp"
#include "../../../lib/daemon/log.hpp"

#include "../core_test_support.hpp"

#include <kache/daemon.hpp>
#include <kache/daemon/service.hpp>

using namespace kache;
using kache::test::read_file;
using kache::test::TempDir;
using kache::test::write_file;

TEST_CASE("daemon log: filtered by level, lifecycle always written", "[daemon][log]") {
    TempDir dir;
    auto file = dir / "kached.log";
    daemon::Log log;
    log.open(file, false, daemon::LogLevel::warn);
    log.debug("a debug line");
    log.info("an info line");
    log.warn("a warn line");
    log.error("an error line");
    log.lifecycle("serving");
    auto text = read_file(file);
    CHECK(text.find("debug line") == std::string::npos);
    CHECK(text.find("info line") == std::string::npos);
    CHECK(text.find(" warn a warn line") != std::string::npos);
    CHECK(text.find(" error an error line") != std::string::npos);
    CHECK(text.find("serving") != std::string::npos);
    CHECK(log.last_error() == "an error line");

    CHECK(daemon::parse_log_level("debug") == daemon::LogLevel::debug);
    CHECK(daemon::parse_log_level("trace") == daemon::LogLevel::debug);
    CHECK(daemon::parse_log_level("info") == daemon::LogLevel::info);
    CHECK_FALSE(daemon::parse_log_level("loud"));
}

TEST_CASE("daemon log: rotates past its size limit", "[daemon][log]") {
    TempDir dir;
    auto file = dir / "kached.log";
    write_file(file, std::string(daemon::k_log_rotate_bytes + 1, 'x'));
    daemon::Log log;
    log.open(file, false, daemon::LogLevel::info);
    log.info("fresh");
    CHECK(std::filesystem::file_size(dir / "kached.log.1") == daemon::k_log_rotate_bytes + 1);
    CHECK(read_file(file).find("fresh") != std::string::npos);
}

TEST_CASE("cargo metadata: packages come after their dependencies", "[daemon][prefetch]") {
    auto order = daemon::parse_cargo_metadata(R"({
      "packages": [
        {"id": "app 0.1.0", "name": "app", "version": "0.1.0"},
        {"id": "serde 1.0.1", "name": "serde", "version": "1.0.1"},
        {"id": "serde_derive 1.0.1", "name": "serde_derive", "version": "1.0.1"},
        {"id": "syn 2.0.0", "name": "syn", "version": "2.0.0"}
      ],
      "resolve": {"nodes": [
        {"id": "app 0.1.0", "dependencies": ["serde 1.0.1"]},
        {"id": "serde 1.0.1", "dependencies": ["serde_derive 1.0.1"]},
        {"id": "serde_derive 1.0.1", "dependencies": ["syn 2.0.0"]},
        {"id": "syn 2.0.0", "dependencies": []}
      ]}})");
    REQUIRE(order);
    std::vector<daemon::PackageVersion> want = {
        {"syn", "2.0.0"}, {"serde_derive", "1.0.1"}, {"serde", "1.0.1"}, {"app", "0.1.0"}};
    CHECK(*order == want);
    CHECK_FALSE(daemon::parse_cargo_metadata("not json"));
    CHECK_FALSE(daemon::parse_cargo_metadata(R"({"resolve":null})"));
}

TEST_CASE("find_cargo_lock looks in the directory and its parents", "[daemon]") {
    TempDir dir;
    write_file(dir / "ws" / "Cargo.lock", "# lock\n");
    std::filesystem::create_directories(dir / "ws" / "member" / "src");
    CHECK(daemon::find_cargo_lock(dir / "ws" / "member" / "src") == dir / "ws" / "Cargo.lock");
    CHECK(daemon::find_cargo_lock(dir / "ws") == dir / "ws" / "Cargo.lock");
    CHECK_FALSE(daemon::find_cargo_lock(dir.path()));
}

TEST_CASE("the systemd unit quotes the kached path", "[daemon][service]") {
    auto text = daemon::service_unit_text("/opt/my tools/100%/kached");
    CHECK(text.find("ExecStart=\"/opt/my tools/100%%/kached\" run\n") != std::string::npos);
    CHECK(text.find("WantedBy=default.target") != std::string::npos);
    kache::test::ScopedEnv home("HOME", "/home/someone");
    CHECK(daemon::service_unit_path() == "/home/someone/.config/systemd/user/kached.service");
}
