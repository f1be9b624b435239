// kache::wrapper's scan for raw root paths in outputs, and the input-set
// marker that makes an entry path-specific.
#include "../../lib/wrapper/path_scan.hpp"

#include "core_test_support.hpp"

#include <algorithm>
#include <cstring>

using namespace kache;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

key::PathMap roots_of(std::vector<key::Root> roots) { return key::PathMap(std::move(roots)); }

std::vector<std::string> names(const std::vector<key::Root>& roots) {
    std::vector<std::string> out;
    for (auto& r : roots) out.push_back(r.name);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("a root matches only as a whole path prefix", "[path_scan]") {
    using wrapper::contains_root;
    std::string_view root = "/work/ws";
    CHECK(contains_root("rpath=/work/ws/target/debug", root));
    CHECK(contains_root("/work/ws", root));
    CHECK(contains_root(std::string("x\0/work/ws\0y", 12), root));
    CHECK(contains_root("\"/work/ws\"", root));
    CHECK_FALSE(contains_root("/work/ws2/src", root));
    CHECK_FALSE(contains_root("/work/wsx", root));
    CHECK_FALSE(contains_root("/work/w", root));
    // The second occurrence counts when the first does not end a path.
    CHECK(contains_root("/work/wsa /work/ws/", root));
    // A one-component root must also start a path.
    CHECK(contains_root("dir=/build/x", "/build"));
    CHECK_FALSE(contains_root("library/std/build/x", "/build"));
}

TEST_CASE("every root is scanned, a system directory only with a path below it", "[path_scan]") {
    // HOME=/root (root in a container): an env! value under it must still mark the entry.
    auto paths = roots_of({{"cwd", "/home/alice/ws"},
                           {"target", "/home/alice/ws/target"},
                           {"cargo", "/root/.cargo"},
                           {"home", "/root"},
                           {"tmp", "/tmp"}});
    CHECK(names(wrapper::specific_roots(paths)) ==
          std::vector<std::string>{"cargo", "cwd", "home", "target", "tmp"});
    auto docker = roots_of({{"cwd", "/app"}, {"home", "/home"}, {"tmp", "/var/tmp"}});
    CHECK(names(wrapper::specific_roots(docker)) == std::vector<std::string>{"cwd", "home", "tmp"});

    using wrapper::contains_root;
    CHECK(contains_root("sdk=/root/sdk", "/root"));
    CHECK(contains_root("/root/", "/root"));
    CHECK(contains_root(std::string("\0/tmp/x\0", 8), "/tmp"));
    // The name alone, as std and ordinary crates carry it, is not this machine's.
    CHECK_FALSE(contains_root("/root", "/root"));
    CHECK_FALSE(contains_root("dir \"/root\" here", "/root"));
    CHECK_FALSE(contains_root(std::string("x\0/tmp\0y", 8), "/tmp"));
    CHECK_FALSE(contains_root("/rootfs/x", "/root"));
    CHECK_FALSE(contains_root("/tmpdir/x", "/tmp"));
    // Still one component: it must start a path.
    CHECK_FALSE(contains_root("chroot/x", "/root"));
    CHECK_FALSE(contains_root("var/tmp/x", "/tmp"));
    // A longer system directory follows the same rule.
    CHECK(contains_root("/var/tmp/x", "/var/tmp"));
    CHECK_FALSE(contains_root("/var/tmp", "/var/tmp"));
}

TEST_CASE("roots are found in a file, across read chunks", "[path_scan]") {
    TempDir tmp{"kache-path-scan"};
    std::vector<key::Root> roots = {{"cwd", "/work/checkout-one"}, {"cargo", "/home/u/.cargo"}};
    fs::path f = tmp / "out.bin";

    write_file(f, std::string(3 << 20, 'x'));
    auto none = wrapper::roots_in_file(f, roots);
    REQUIRE(none);
    CHECK(none->empty());

    // Wherever the reads cut the file, a root is seen with the byte after it.
    constexpr std::size_t mib = 1 << 20;
    for (std::size_t at = mib - 24; at <= mib + 24; ++at) {
        std::string data(at, 'x');
        data += "\"/work/checkout-one/target/debug/build/x/out\"";
        data += std::string(mib, '\0');
        data += "/home/u/.cargo";
        write_file(f, data);
        auto both = wrapper::roots_in_file(f, roots);
        REQUIRE(both);
        CHECK(names(*both) == std::vector<std::string>{"cargo", "cwd"});

        std::string longer(at, 'x');
        longer += "/work/checkout-one2/src";
        write_file(f, longer);
        auto none_here = wrapper::roots_in_file(f, roots);
        REQUIRE(none_here);
        CHECK(none_here->empty());
    }

    write_file(f, "");
    auto empty = wrapper::roots_in_file(f, roots);
    REQUIRE(empty);
    CHECK(empty->empty());

    CHECK_FALSE(wrapper::roots_in_file(tmp / "missing", roots));
    CHECK_FALSE(wrapper::roots_in_file(tmp.path(), roots)); // a directory
}

TEST_CASE("a path marker holds only where its root has the recorded path", "[path_scan]") {
    auto here = roots_of({{"cwd", "/work/one"}, {"tmp", "/tmp"}});
    auto there = roots_of({{"cwd", "/work/two"}, {"tmp", "/tmp"}});
    std::string marker = wrapper::path_marker("cwd");
    CHECK(wrapper::is_path_marker(marker));
    CHECK(marker.find('=') != std::string::npos); // no real variable can have it
    CHECK_FALSE(wrapper::is_path_marker("CARGO_MANIFEST_DIR"));
    CHECK(wrapper::path_marker_matches(marker, "/work/one", here));
    CHECK_FALSE(wrapper::path_marker_matches(marker, "/work/one", there));
    CHECK_FALSE(wrapper::path_marker_matches(wrapper::path_marker("target"), "/work/one/target", here));
    CHECK_FALSE(wrapper::path_marker_matches("CARGO_MANIFEST_DIR", "/work/one", here));
}

namespace {

// Feeds data to a RootScanner in chunks of at most `chunk` bytes, as the store's read loop does.
std::vector<std::string> scan_in_chunks(std::string_view data, const std::vector<key::Root>& roots, std::size_t chunk) {
    wrapper::RootScanner scanner(roots);
    std::size_t at = 0;
    while (true) {
        auto buf = scanner.next_buffer();
        REQUIRE(!buf.empty());
        std::size_t n = std::min({chunk, buf.size(), data.size() - at});
        std::memcpy(buf.data(), data.data() + at, n);
        at += n;
        scanner.arrived(n);
        if (n == 0) break;
    }
    return names(scanner.found());
}

} // namespace

TEST_CASE("the streaming scan agrees with contains_root wherever the chunks are cut", "[path_scan]") {
    std::vector<key::Root> roots = {
        {"cwd", "/work/ws"}, {"build", "/build"}, {"target", "/work/ws/target"}, {"home", "/root"}};
    std::vector<std::string> samples = {
        "x/work/ws/y",      "/work/wsx /work/ws", "/work/ws2",       "a/build/x",  "lib/build",
        " /build",          "/buil",              "/work/ws/target", "/work/w",    "//build//work/ws/targetx",
        "\"/work/ws\"",     "",                   "/",               "a/build",    "/work/ws/target/",
        "/root",            "/root/",             " /root x",        "a/root/b",   "x /root/sdk",
    };
    for (auto& s : samples) {
        std::vector<std::string> want;
        for (auto& r : roots)
            if (wrapper::contains_root(s, r.path)) want.push_back(r.name);
        std::sort(want.begin(), want.end());
        for (std::size_t chunk = 1; chunk <= s.size() + 1; ++chunk) {
            INFO("data \"" << s << "\", chunks of " << chunk);
            CHECK(scan_in_chunks(s, roots, chunk) == want);
        }
    }
    // A one-component root preceded by a path byte stays rejected when the cut falls
    // just after that byte (the carried tail keeps it as context).
    std::string pad(300, 'x');
    for (std::size_t chunk : {1u, 7u, 299u, 300u, 301u, 4096u}) {
        INFO("chunks of " << chunk);
        CHECK(scan_in_chunks(pad + "/build", roots, chunk).empty());
        CHECK(scan_in_chunks(pad + " /build", roots, chunk) == std::vector<std::string>{"build"});
    }
}

TEST_CASE("a stored output is scanned in the read that hashes it", "[path_scan][store]") {
    TempDir tmp{"kache-path-scan-put"};
    auto store = store::Store::open(tmp / "store");
    REQUIRE(store);
    std::vector<key::Root> roots = {{"cwd", "/work/checkout-one"}};
    std::string data(700'000, 'x');
    data += "rpath=/work/checkout-one/target/debug";
    data += std::string(300'000, '\0');
    write_file(tmp / "libx.rlib", data);
    wrapper::RootScanner scanner(roots);
    auto put = store->put_blob_file(tmp / "libx.rlib", store::Placement::allow_link, &scanner);
    REQUIRE(put);
    CHECK(put->digest == hash::of(data));
    CHECK(put->linked);
    CHECK(names(scanner.found()) == std::vector<std::string>{"cwd"});

    // Stored again (deduplicated), the scan still sees every byte.
    write_file(tmp / "liby.rlib", std::string(1000, 'y') + "/work/checkout-one");
    REQUIRE(store->put_blob_file(tmp / "liby.rlib", store::Placement::copy_only));
    wrapper::RootScanner again(roots);
    auto y = store->put_blob_file(tmp / "liby.rlib", store::Placement::copy_only, &again);
    REQUIRE(y);
    CHECK_FALSE(y->linked);
    CHECK(names(again.found()) == std::vector<std::string>{"cwd"});
    wrapper::RootScanner none(roots);
    write_file(tmp / "libz.rlib", std::string(1000, 'z') + "/work/checkout-one2");
    auto z = store->put_blob_file(tmp / "libz.rlib", store::Placement::copy_only, &none);
    REQUIRE(z);
    CHECK_FALSE(z->linked);
    CHECK(none.found().empty());
}
