// kache::config: sizes, the TOML file, warnings that never break loading, and
// KACHE_* environment overrides.
#include <kache/config.hpp>

#include "core_test_support.hpp"

#include <algorithm>

using namespace kache;
using kache::test::ScopedEnv;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024, TiB = GiB * 1024;

// Every KACHE_* variable load_from reads, cleared for the duration of a test so
// the developer's own environment cannot leak in.
struct CleanEnv {
    std::vector<std::unique_ptr<ScopedEnv>> vars;
    CleanEnv() {
        for (const char* name :
             {"KACHE_CACHE_DIR", "KACHE_MAX_SIZE", "KACHE_KEY_ENV_VARS", "KACHE_DISABLED", "KACHE_PRESERVE_INCREMENTAL",
              "KACHE_PROGRESS", "KACHE_VERIFY_BLOBS", "KACHE_PREFETCH", "KACHE_REMOTE_READONLY", "KACHE_LOG",
              "KACHE_SOCKET_PATH", "KACHE_REMOTE_CHECK_TIMEOUT_MS", "KACHE_DAEMON_IDLE_TIMEOUT", "KACHE_REMOTE_DIR",
              "KACHE_REMOTE", "KACHE_S3_BUCKET", "KACHE_S3_PREFIX", "KACHE_CONFIG"})
            vars.push_back(std::make_unique<ScopedEnv>(name, nullptr));
        vars.push_back(std::make_unique<ScopedEnv>("XDG_CACHE_HOME", "/tmp/kache-unit-xdg-cache"));
    }
};

bool mentions(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

} // namespace

TEST_CASE("config: parse_size", "[config]") {
    auto size = [](std::string_view s) {
        auto r = config::parse_size(s);
        INFO(s << ": " << (r ? std::string() : r.error().message));
        REQUIRE(r);
        return *r;
    };
    CHECK(size("20G") == 20 * GiB);
    CHECK(size("512M") == 512 * MiB);
    CHECK(size("1.5GiB") == GiB + GiB / 2);
    CHECK(size("100") == 100);
    CHECK(size("0") == 0);
    CHECK(size("64K") == 64 * KiB);
    CHECK(size("64kb") == 64 * KiB);
    CHECK(size("2T") == 2 * TiB);
    CHECK(size("3MiB") == 3 * MiB);
    CHECK(size("10 G") == 10 * GiB);
    CHECK(size("7B") == 7);
    CHECK(size("20g") == 20 * GiB);

    for (const char* bad : {"", "abc", "G", "20X", "20 GB extra", "-5G", "1.5.5G", "nan", "inf", "20Gigs"}) {
        INFO(bad);
        auto r = config::parse_size(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::config);
    }
}

TEST_CASE("config: a size too large for 64 bits is rejected", "[config]") {
    // 2^64 bytes is 16 EiB = 16777216 TiB; anything above cannot be represented.
    auto r = config::parse_size("100000000T");
    CHECK_FALSE(r.has_value());
    auto e = config::parse_size("1e30");
    CHECK_FALSE(e.has_value());
}

TEST_CASE("config: defaults without a file", "[config]") {
    CleanEnv clean;
    TempDir dir;
    auto cfg = config::load_from(dir / "absent.toml");
    CHECK(cfg.warnings.empty());
    CHECK(cfg.config_file.empty());
    CHECK(cfg.cache_dir == fs::path("/tmp/kache-unit-xdg-cache/kache"));
    CHECK(cfg.max_size == 20 * GiB);
    CHECK_FALSE(cfg.disabled);
    CHECK(cfg.verify_blobs);
    CHECK(cfg.log_level == "warn");
    CHECK_FALSE(cfg.remote.configured());
    CHECK(cfg.effective_socket_path() == cfg.cache_dir / "daemon.sock");
}

TEST_CASE("config: load_from reads valid keys", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    write_file(file, R"(# kache configuration
cache_dir = "/var/cache/kache-test"
max_size = "5G"
key_env_vars = ["MY_VAR", "OTHER_VAR"]
disabled = false
preserve_incremental = true
progress = true
verify_blobs = false
prefetch = false
log_level = "debug"
socket_path = "/run/kache.sock"
remote_check_timeout_ms = 1500
daemon_idle_timeout = 600

[remote]
type = "s3"
bucket = "my-bucket"
prefix = "ci"
region = "eu-west-1"
read_only = true
)");
    auto cfg = config::load_from(file);
    INFO((cfg.warnings.empty() ? std::string() : cfg.warnings.front()));
    CHECK(cfg.warnings.empty());
    CHECK(cfg.config_file == file);
    CHECK(cfg.cache_dir == fs::path("/var/cache/kache-test"));
    CHECK(cfg.max_size == 5 * GiB);
    CHECK(cfg.key_env_vars == std::vector<std::string>{"MY_VAR", "OTHER_VAR"});
    CHECK_FALSE(cfg.disabled);
    CHECK(cfg.preserve_incremental);
    CHECK(cfg.progress);
    CHECK_FALSE(cfg.verify_blobs);
    CHECK_FALSE(cfg.prefetch);
    CHECK(cfg.log_level == "debug");
    CHECK(cfg.socket_path == fs::path("/run/kache.sock"));
    CHECK(cfg.effective_socket_path() == fs::path("/run/kache.sock"));
    CHECK(cfg.remote_check_timeout == std::chrono::milliseconds(1500));
    CHECK(cfg.daemon_idle_timeout_s == 600);
    CHECK(cfg.remote.configured());
    CHECK(cfg.remote.url == "s3://my-bucket/ci");
    CHECK(cfg.remote.read_only);
    CHECK(cfg.remote.options.at("region") == "eu-west-1");

    // An integer size is bytes.
    write_file(file, "max_size = 1048576\n[remote]\nurl = \"file:///srv/kache\"\n");
    auto cfg2 = config::load_from(file);
    CHECK(cfg2.warnings.empty());
    CHECK(cfg2.max_size == MiB);
    CHECK(cfg2.remote.url == "file:///srv/kache");

    // The filesystem remote by type and dir.
    write_file(file, "[remote]\ntype = \"filesystem\"\ndir = \"/srv/shared\"\n");
    auto cfg3 = config::load_from(file);
    CHECK(cfg3.warnings.empty());
    CHECK(cfg3.remote.url == "file:///srv/shared");
}

TEST_CASE("config: a bad value is one warning and the default stays", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    write_file(file, "log_level = \"info\"\nmax_size = \"abc\"\nprogress = true\n");
    auto cfg = config::load_from(file);
    REQUIRE(cfg.warnings.size() == 1);
    const std::string& w = cfg.warnings[0];
    INFO(w);
    CHECK(mentions(w, file.string()));
    CHECK(mentions(w, "max_size"));
    CHECK(mentions(w, "abc"));
    CHECK(cfg.max_size == 20 * GiB);
    // The good keys around it still apply.
    CHECK(cfg.log_level == "info");
    CHECK(cfg.progress);

    struct Case {
        const char* text;
        const char* key;
    };
    for (auto c : {Case{"disabled = \"yes\"\n", "disabled"}, Case{"cache_dir = \"relative/dir\"\n", "cache_dir"},
                   Case{"log_level = \"loud\"\n", "log_level"}, Case{"max_size = -3\n", "max_size"},
                   Case{"key_env_vars = \"MY_VAR\"\n", "key_env_vars"}, Case{"no_such_key = 1\n", "no_such_key"},
                   Case{"remote_check_timeout_ms = \"soon\"\n", "remote_check_timeout_ms"},
                   Case{"[remote]\nread_only = \"no\"\n", "remote.read_only"}}) {
        write_file(file, c.text);
        auto bad = config::load_from(file);
        INFO(c.text);
        REQUIRE(bad.warnings.size() == 1);
        CHECK(mentions(bad.warnings[0], file.string()));
        CHECK(mentions(bad.warnings[0], c.key));
    }
    write_file(file, "disabled = \"yes\"\n");
    CHECK_FALSE(config::load_from(file).disabled);
    write_file(file, "cache_dir = \"relative/dir\"\n");
    CHECK(config::load_from(file).cache_dir == fs::path("/tmp/kache-unit-xdg-cache/kache"));
}

TEST_CASE("config: a syntax error is one warning naming the file and line", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    write_file(file, "log_level = \"debug\"\n\nmax_size = = \"5G\"\n");
    auto cfg = config::load_from(file);
    REQUIRE(cfg.warnings.size() == 1);
    INFO(cfg.warnings[0]);
    CHECK(mentions(cfg.warnings[0], file.string() + ":3"));
    // The whole file is ignored.
    CHECK(cfg.log_level == "warn");
    CHECK(cfg.max_size == 20 * GiB);
}

TEST_CASE("config: a table header toml++ asserts on is a syntax error, not an abort", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    // Found by tests/fuzz/fuzz_config: toml++ 3.3 asserted in parse_key.
    write_file(file, std::string("[+mr\x02\0\0\0emote\n", 14));
    auto cfg = config::load_from(file);
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(mentions(cfg.warnings[0], file.string()));
    CHECK(cfg.max_size == 20 * GiB);
}

TEST_CASE("config: non-ASCII text, on which toml++ reaches unreachable code, is refused with a warning", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    // Found by tests/fuzz/fuzz_config: U+01B6 where toml++ looks for whitespace.
    write_file(file, "max_size = \"5G\"\ndisabled \xc7\xb6 false\n");
    auto cfg = config::load_from(file);
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(mentions(cfg.warnings[0], file.string()));
    CHECK(mentions(cfg.warnings[0], "ASCII"));
    CHECK(cfg.max_size == 20 * GiB);
    CHECK_FALSE(cfg.disabled);
}

TEST_CASE("config: environment variables override the file", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    write_file(file, "max_size = \"5G\"\ncache_dir = \"/from/file\"\nprogress = false\nverify_blobs = true\n"
                     "key_env_vars = [\"FROM_FILE\"]\nlog_level = \"error\"\n");

    ScopedEnv size("KACHE_MAX_SIZE", "512M");
    ScopedEnv cache("KACHE_CACHE_DIR", "/from/env");
    ScopedEnv progress("KACHE_PROGRESS", "yes");
    ScopedEnv verify("KACHE_VERIFY_BLOBS", "0");
    ScopedEnv keys("KACHE_KEY_ENV_VARS", "A_VAR, B_VAR");
    ScopedEnv log("KACHE_LOG", "trace");
    ScopedEnv timeout("KACHE_REMOTE_CHECK_TIMEOUT_MS", "250");
    ScopedEnv remote_dir("KACHE_REMOTE_DIR", "/srv/shared");
    auto cfg = config::load_from(file);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.max_size == 512 * MiB);
    CHECK(cfg.cache_dir == fs::path("/from/env"));
    CHECK(cfg.progress);
    CHECK_FALSE(cfg.verify_blobs);
    auto has_key_var = [&](const char* v) {
        return std::find(cfg.key_env_vars.begin(), cfg.key_env_vars.end(), v) != cfg.key_env_vars.end();
    };
    CHECK(has_key_var("A_VAR")); // trimmed list items
    CHECK(has_key_var("B_VAR"));
    CHECK(cfg.log_level == "trace");
    CHECK(cfg.remote_check_timeout == std::chrono::milliseconds(250));
    CHECK(cfg.remote.url == "file:///srv/shared");

    {
        // A bad environment value warns and keeps the file's value.
        ScopedEnv bad("KACHE_MAX_SIZE", "lots");
        auto b = config::load_from(file);
        REQUIRE(b.warnings.size() == 1);
        CHECK(mentions(b.warnings[0], "KACHE_MAX_SIZE"));
        CHECK(b.max_size == 5 * GiB);
    }
    {
        ScopedEnv bucket("KACHE_S3_BUCKET", "bkt");
        ScopedEnv prefix("KACHE_S3_PREFIX", "pfx");
        auto s3 = config::load_from(file);
        CHECK(s3.remote.url == "s3://bkt/pfx");
        CHECK(s3.remote.options.at("bucket") == "bkt");
    }
}

TEST_CASE("config: load() finds the file through KACHE_CONFIG", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "elsewhere.toml";
    write_file(file, "log_level = \"info\"\n");
    ScopedEnv path("KACHE_CONFIG", file.c_str());
    auto cfg = config::load();
    CHECK(cfg.config_file == file);
    CHECK(cfg.log_level == "info");
    CHECK(cfg.warnings.empty());
}

TEST_CASE("config: a value of the wrong TOML type is never converted", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    struct Case {
        const char* text;
        const char* key;
        const char* got;
    };
    for (auto c : {Case{"max_size = true\n", "max_size", "got a boolean"},
                   Case{"verify_blobs = 0\n", "verify_blobs", "got an integer"},
                   Case{"progress = 1\n", "progress", "got an integer"},
                   Case{"max_size = 1.5\n", "max_size", "got a floating-point number"},
                   Case{"remote_check_timeout_ms = 2.5\n", "remote_check_timeout_ms", "got a floating-point number"},
                   Case{"daemon_idle_timeout = true\n", "daemon_idle_timeout", "got a boolean"},
                   Case{"log_level = 3\n", "log_level", "got an integer"},
                   Case{"key_env_vars = [\"A\", 1]\n", "key_env_vars", "expected an array of variable names"},
                   Case{"remote = 1\n", "remote", "got an integer"},
                   Case{"[remote]\nbucket = true\n", "remote.bucket", "got a boolean"}}) {
        write_file(file, c.text);
        auto cfg = config::load_from(file);
        INFO(c.text);
        REQUIRE(cfg.warnings.size() == 1);
        CHECK(mentions(cfg.warnings[0], file.string()));
        CHECK(mentions(cfg.warnings[0], std::string("'") + c.key + "'"));
        CHECK(mentions(cfg.warnings[0], c.got));
        CHECK(cfg.max_size == 20 * GiB);
        CHECK(cfg.verify_blobs);
        CHECK(cfg.key_env_vars.empty());
        CHECK(cfg.remote_check_timeout == std::chrono::milliseconds(3000));
    }
}

TEST_CASE("config: out-of-range values keep the default", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    for (const char* text : {"max_size = 0\n", "max_size = \"0\"\n", "max_size = 1\n", "max_size = \"10K\"\n",
                             "max_size = -1\n", "remote_check_timeout_ms = -1\n",
                             "remote_check_timeout_ms = 100000000\n", "daemon_idle_timeout = -5\n",
                             "daemon_idle_timeout = 99999999999\n"}) {
        write_file(file, text);
        auto cfg = config::load_from(file);
        INFO(text);
        REQUIRE(cfg.warnings.size() == 1);
        CHECK(cfg.max_size == 20 * GiB);
        CHECK(cfg.remote_check_timeout == std::chrono::milliseconds(3000));
        CHECK(cfg.daemon_idle_timeout_s == 0);
    }
    ScopedEnv zero("KACHE_MAX_SIZE", "0");
    auto cfg = config::load_from(dir / "absent.toml");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(mentions(cfg.warnings[0], "KACHE_MAX_SIZE"));
    CHECK(cfg.max_size == 20 * GiB);
}

TEST_CASE("config: KACHE_LOG levels and describe() sources", "[config]") {
    CleanEnv clean;
    TempDir dir;
    write_file(dir.path() / "config.toml", "max_size = \"20G\"\n");
    ScopedEnv cfgfile("KACHE_CONFIG", (dir.path() / "config.toml").c_str());
    ScopedEnv progress("KACHE_PROGRESS", "1");
    {
        ScopedEnv log("KACHE_LOG", "loud");
        auto c = config::load();
        CHECK(c.log_level == "warn");
        CHECK(std::count_if(c.warnings.begin(), c.warnings.end(), [](auto& w) { return mentions(w, "KACHE_LOG"); }) == 1);
    }
    ScopedEnv log("KACHE_LOG", "error");
    auto d = config::describe();
    CHECK(d.config.log_level == "error");
    auto find = [&](std::string_view key) {
        for (auto& s : d.settings)
            if (s.key == key) return s;
        FAIL("no setting " << key);
        return config::Setting{};
    };
    CHECK(find("max_size").value == "20.0 GiB");
    CHECK(find("max_size").source == config::Source::file);
    CHECK(find("progress").source == config::Source::environment);
    CHECK(find("progress").origin == "KACHE_PROGRESS");
    CHECK(find("log_level").origin == "KACHE_LOG");
    CHECK(find("verify_blobs").source == config::Source::default_value);
}

TEST_CASE("config: a file of comments sets nothing, and a comment cannot hide a setting", "[config]") {
    CleanEnv clean;
    TempDir dir;
    fs::path file = dir / "config.toml";
    write_file(file, "# a comment\n\n   # indented\r\n\t# tabbed\n");
    auto cfg = config::load_from(file);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.max_size == 20 * GiB);
    CHECK(cfg.config_file == file);

    // One setting after the comments is read as before.
    write_file(file, "# a comment\n\nmax_size = \"5G\" # five\n");
    cfg = config::load_from(file);
    CHECK(cfg.warnings.empty());
    CHECK(cfg.max_size == 5 * GiB);

    // A control character is the parser's to report, comment or not.
    write_file(file, "# a comment \x01 with a control character\n");
    cfg = config::load_from(file);
    CHECK(cfg.warnings.size() == 1);
}
