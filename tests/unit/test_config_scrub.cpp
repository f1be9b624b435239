// The scrub_rate key (config.toml) and KACHE_SCRUB_RATE: a size a second, 0 turns the
// daemon's scrub off, a value of the wrong type is one warning and the default stays.
#include <kache/config.hpp>

#include "core_test_support.hpp"

using namespace kache;
using kache::test::ScopedEnv;
using kache::test::TempDir;
using kache::test::write_file;

namespace {

config::Config load_text(const TempDir& dir, const std::string& text) {
    ScopedEnv rate("KACHE_SCRUB_RATE", nullptr);
    write_file(dir / "config.toml", text);
    return config::load_from(dir / "config.toml");
}

} // namespace

TEST_CASE("config: scrub_rate", "[config][scrub]") {
    TempDir dir;
    CHECK(load_text(dir, "").scrub_rate == config::k_default_scrub_rate);
    CHECK(load_text(dir, "scrub_rate = \"8M\"\n").scrub_rate == 8ull << 20);
    CHECK(load_text(dir, "scrub_rate = 1000\n").scrub_rate == 1000);
    auto off = load_text(dir, "scrub_rate = 0\n");
    CHECK(off.scrub_rate == 0);
    CHECK(off.warnings.empty());
    for (const char* bad : {"scrub_rate = true\n", "scrub_rate = \"fast\"\n", "scrub_rate = -5\n"}) {
        auto cfg = load_text(dir, bad);
        INFO(bad);
        CHECK(cfg.scrub_rate == config::k_default_scrub_rate);
        REQUIRE(cfg.warnings.size() == 1);
        CHECK(cfg.warnings[0].find("scrub_rate") != std::string::npos);
    }
    {
        ScopedEnv env("KACHE_SCRUB_RATE", "1G");
        write_file(dir / "config.toml", "scrub_rate = \"8M\"\n");
        CHECK(config::load_from(dir / "config.toml").scrub_rate == 1ull << 30);
    }
}
