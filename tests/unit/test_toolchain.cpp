// kache::key toolchain identity: tied to the driver library of the toolchain
// that runs, re-asked per build session behind a shim, and the build session.
#include <kache/key.hpp>

#include "core_test_support.hpp"

#include <sys/stat.h>

#include <regex>

using namespace kache;
using kache::test::read_file;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

void write_script(const fs::path& p, const std::string& body) {
    write_file(p, "#!/bin/sh\n" + body);
    REQUIRE(::chmod(p.c_str(), 0755) == 0);
}

// A fake toolchain at dir: bin/rustc answers -vV with `version` and --print
// sysroot with dir, counting its runs in dir/runs; lib/ holds a driver library.
void fake_toolchain(const fs::path& dir, const std::string& version, const std::string& driver_name) {
    write_script(dir / "bin/rustc", "echo run >> '" + (dir / "runs").string() + "'\n" +
                                        "case \"$1\" in\n  -vV) echo 'rustc " + version + "' ;;\n" +
                                        "  --print) echo '" + dir.string() + "' ;;\nesac\n");
    write_file(dir / "lib" / driver_name, "driver of " + version);
}

size_t runs(const fs::path& dir) {
    std::error_code ec;
    if (!fs::exists(dir / "runs", ec)) return 0;
    auto text = read_file(dir / "runs");
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
}

std::string identity(const std::vector<std::string>& prefix, const TempDir& t) {
    fs::create_directories(t / "tmp");
    auto id = key::toolchain_identity(prefix, t / "toolchains", t / "tmp");
    INFO((id ? std::string() : id.error().message));
    REQUIRE(id);
    return *id;
}

// Makes every record look written by another build session.
void end_session(const fs::path& dir) {
    for (auto& e : fs::directory_iterator(dir)) {
        std::string text = read_file(e.path());
        write_file(e.path(), std::regex_replace(text, std::regex("\nsession [^\n]*"), "\nsession 1 1 1"));
    }
}

} // namespace

TEST_CASE("toolchain: parse_proc_stat", "[key][toolchain]") {
    std::string fields;
    for (int i = 3; i <= 21; ++i) fields += " " + std::to_string(i);
    auto s = key::parse_proc_stat("1234 (car go) x) " + fields.substr(1) + " 987654 23 24\n");
    REQUIRE(s);
    CHECK(s->start_ticks == 987654u);
    CHECK_FALSE(key::parse_proc_stat(""));
    CHECK_FALSE(key::parse_proc_stat("1234 (cargo"));
    CHECK_FALSE(key::parse_proc_stat("1234 (cargo) S 1 2 3"));
    CHECK_FALSE(key::parse_proc_stat("1234 (cargo) " + fields.substr(1) + " -5 1"));
    CHECK_FALSE(key::parse_proc_stat("1234 (cargo) " + fields.substr(1) + " 99999999999999999999999 1"));
}

TEST_CASE("toolchain: the build session", "[key][toolchain]") {
    auto s = key::current_build_session();
    REQUIRE(s);
    CHECK(s->parent_pid == ::getppid());
    CHECK(s->same_as(s->text()));
    auto other = *s;
    other.parent_pid += 1;
    CHECK_FALSE(s->same_as(other.text()));
    other = *s;
    other.start_ticks += 1;
    CHECK_FALSE(s->same_as(other.text()));
    other = *s;
    other.boot_epoch_s += key::k_boot_epoch_slack_s;
    CHECK(s->same_as(other.text()));
    other.boot_epoch_s += 3600;
    CHECK_FALSE(s->same_as(other.text()));
    CHECK_FALSE(s->same_as(""));
    CHECK_FALSE(s->same_as("x y z"));
}

TEST_CASE("toolchain: the toolchain's own binary is asked once", "[key][toolchain]") {
    TempDir t;
    fake_toolchain(t / "a", "1.0.0 (aaa)", "librustc_driver-aaa.so");
    std::vector<std::string> prefix{(t / "a/bin/rustc").string()};
    auto first = identity(prefix, t);
    CHECK(runs(t / "a") == 2);
    CHECK(identity(prefix, t) == first);
    end_session(t / "toolchains");
    CHECK(identity(prefix, t) == first);
    CHECK(runs(t / "a") == 2); // direct: no session tie, no spawn

    SECTION("an in-place update of the driver library is noticed") {
        write_file(t / "a/lib/librustc_driver-aaa.so", "another build of the driver");
        CHECK(identity(prefix, t) != first);
        CHECK(runs(t / "a") == 4);
    }
    SECTION("a corrupt record is asked again, not trusted") {
        for (auto& e : fs::directory_iterator(t / "toolchains")) write_file(e.path(), "kache-toolchain 2\n\nvalue x\n");
        CHECK(identity(prefix, t) == first);
        CHECK(runs(t / "a") == 4);
    }
}

TEST_CASE("toolchain: the same -vV with another driver library is another toolchain", "[key][toolchain]") {
    TempDir t1, t2;
    fake_toolchain(t1 / "a", "1.0.0 (aaa)", "librustc_driver-aaa.so");
    fake_toolchain(t2 / "a", "1.0.0 (aaa)", "librustc_driver-bbb.so");
    CHECK(identity({(t1 / "a/bin/rustc").string()}, t1) != identity({(t2 / "a/bin/rustc").string()}, t2));
}

TEST_CASE("toolchain: a shim is asked again in each build session", "[key][toolchain]") {
    TempDir t;
    fake_toolchain(t / "a", "1.0.0 (aaa)", "librustc_driver-aaa.so");
    fake_toolchain(t / "b", "2.0.0-nightly (bbb)", "librustc_driver-bbb.so");
    write_file(t / "choice", (t / "a").string());
    write_script(t / "shim/rustc", "exec \"$(cat '" + (t / "choice").string() + "')/bin/rustc\" \"$@\"\n");
    std::vector<std::string> prefix{(t / "shim/rustc").string()};

    auto a = identity(prefix, t);
    CHECK(runs(t / "a") == 2);
    CHECK(identity(prefix, t) == a); // same session: the record holds
    CHECK(runs(t / "a") == 2);

    // The shim's file is untouched; only the toolchain it runs changes.
    write_file(t / "choice", (t / "b").string());
    end_session(t / "toolchains");
    auto b = identity(prefix, t);
    CHECK(b != a);
    CHECK(runs(t / "b") == 2);

    write_file(t / "choice", (t / "a").string());
    end_session(t / "toolchains");
    CHECK(identity(prefix, t) == a);
}
