// The S3 transport against the loopback server (tests/s3, started with --vhost):
// virtual-hosted-style requests, and multipart uploads (parts streamed from the file,
// conditional completion, abort on failure, bounded memory).
//
// Hidden like the other server tests (tag [.][s3-server]): the meson test unit_remote_s3 runs
// them, and exits 77 (skipped) where the server cannot run.
#include <kache/remote/s3.hpp>

#include "s3_test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::read_file;
using kache::remote::test::S3Server;
using kache::remote::test::config_for;
using kache::remote::test::make;
using kache::remote::test::unique_prefix;
using kache::remote::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t k_mib = 1ull << 20;
constexpr int k_exit_skipped = 77;

// A server of this file's own, accepting virtual-hosted-style requests as well.
S3Server& vhost_server() {
    static const bool can_run = [] {
        auto [status, out] = kache::remote::test::run_command(
            "bash " + kache::remote::test::shell_quote((kache::remote::test::s3_scripts_dir() / "start-s3-server.sh").string()) +
            " --install-only --prefix " + kache::remote::test::shell_quote(kache::remote::test::s3_install_prefix().string()) +
            " 2>&1");
        if (WIFEXITED(status) && WEXITSTATUS(status) == k_exit_skipped) {
            std::fprintf(stderr, "SKIP: the tests against the loopback S3 server: %s", out.c_str());
            std::exit(k_exit_skipped);
        }
        return status == 0;
    }();
    REQUIRE(can_run);
    static std::unique_ptr<S3Server> server;
    if (!server) server = std::make_unique<S3Server>(std::vector<std::string>{"kache-test"}, std::vector<std::string>{"--vhost"});
    return *server;
}


// Writes size pseudo-random bytes in 1 MiB pieces (the file is never whole in memory).
void write_big_file(const fs::path& p, std::uint64_t size, unsigned seed) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    for (std::uint64_t off = 0; off < size; off += k_mib) {
        auto chunk = kache::test::random_bytes(static_cast<std::size_t>(std::min(k_mib, size - off)), seed + static_cast<unsigned>(off / k_mib));
        out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    }
    REQUIRE(out.good());
}

bool same_file(const fs::path& a, const fs::path& b) {
    std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
    std::vector<char> bx(k_mib), by(k_mib);
    while (true) {
        x.read(bx.data(), static_cast<std::streamsize>(bx.size()));
        y.read(by.data(), static_cast<std::streamsize>(by.size()));
        if (x.gcount() != y.gcount()) return false;
        if (x.gcount() == 0) return true;
        if (!std::equal(bx.begin(), bx.begin() + x.gcount(), by.begin())) return false;
    }
}

// Multipart uploads the server holds open (created, neither completed nor aborted).
int open_uploads(const S3Server& s) {
    fs::path dir = fs::path(s.var("S3_SERVER_DATA")) / s.bucket() / "._S3rver_uploads";
    std::error_code ec;
    int n = 0;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
    return n;
}

// The process's peak resident set since the last reset_peak_rss(), in bytes (Linux ≥ 4.0).
std::uint64_t status_kib(const char* field) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(field)) return std::stoull(line.substr(std::string_view(field).size())) * 1024;
    return 0;
}
bool reset_peak_rss() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return out.good();
}

} // namespace

TEST_CASE("s3 transport: virtual-hosted-style requests reach the bucket", "[.][s3-server][s3]") {
    S3Server& server = vhost_server();
    TempDir work("kache-s3-vhost");
    const std::string prefix = unique_prefix("vhost");
    // http://localhost:PORT with virtual style: http://kache-test.localhost:PORT/<key>.
    S3Config vcfg = config_for(server, prefix);
    vcfg.endpoint = "http://localhost:" + server.endpoint().substr(server.endpoint().rfind(':') + 1);
    vcfg.addressing_style = S3AddressingStyle::virtual_hosted;
    auto v = make(vcfg);
    auto p = make(config_for(server, prefix)); // path-style, to 127.0.0.1

    const std::string key = "v1/packs/serde/a b+c.pack";
    const std::string body = kache::test::random_bytes(200'000, 3);
    kache::remote::test::write_file(work / "src", body);
    auto put = v->put(key, work / "src", Overwrite::no);
    INFO((put ? std::string() : put.error().message));
    REQUIRE(put);
    // The same object, seen path-style: the virtual-hosted request named the bucket by host.
    REQUIRE(p->get(key, work / "via-path"));
    CHECK(read_file(work / "via-path") == body);
    auto e = v->exists(key);
    REQUIRE(e);
    CHECK(*e);
    REQUIRE(v->get(key, work / "via-vhost"));
    CHECK(read_file(work / "via-vhost") == body);
    auto l = v->list("v1/");
    INFO((l ? std::string() : l.error().message));
    REQUIRE(l);
    REQUIRE(l->size() == 1);
    CHECK((*l)[0].key == key);
    auto again = v->put(key, work / "src", Overwrite::no);
    REQUIRE_FALSE(again);
    CHECK(again.error().kind == ErrorKind::conflict);
    REQUIRE(v->remove(key));
    e = p->exists(key);
    REQUIRE(e);
    CHECK_FALSE(*e);
}

TEST_CASE("s3 transport: multipart upload above the threshold", "[.][s3-server][s3]") {
    S3Server& server = vhost_server();
    TempDir work("kache-s3-multipart");
    S3Config cfg = config_for(server, unique_prefix("multipart"));
    cfg.multipart_threshold = 5 * k_mib;
    cfg.multipart_part_size = 5 * k_mib;
    auto s3 = make(cfg);
    write_big_file(work / "big", 12 * k_mib, 11);

    SECTION("the object lands whole; a second Overwrite::no upload is a conflict and is aborted") {
        const int before = open_uploads(server);
        auto put = s3->put("v1/packs/big.pack", work / "big", Overwrite::no);
        INFO((put ? std::string() : put.error().message));
        REQUIRE(put);
        REQUIRE(s3->get("v1/packs/big.pack", work / "back"));
        CHECK(fs::file_size(work / "back") == 12 * k_mib);
        CHECK(same_file(work / "big", work / "back"));
        // S3's multipart ETag (md5 of the part md5s, "-3"): it really went up in three parts.
        std::string md5 = read_file(fs::path(server.var("S3_SERVER_DATA")) / server.bucket() / cfg.prefix / "v1" /
                                    "packs" / "big.pack._S3rver_object.md5");
        CHECK(md5.ends_with("-3"));

        auto again = s3->put("v1/packs/big.pack", work / "big", Overwrite::no);
        REQUIRE_FALSE(again);
        CHECK(again.error().kind == ErrorKind::conflict);
        CHECK(open_uploads(server) == before); // the parts of the refused upload are gone
        REQUIRE(s3->put("v1/packs/big.pack", work / "big", Overwrite::yes));
    }

    SECTION("a failure midway aborts the upload and leaves no object") {
        const int before = open_uploads(server);
        write_big_file(work / "shrinking", 30 * k_mib, 5);
        // Once the first part has landed, the file shrinks under the upload: a later part
        // cannot be read (or no longer matches its signed hash).
        std::atomic<bool> done{false};
        std::thread shrinker([&] {
            fs::path uploads = fs::path(server.var("S3_SERVER_DATA")) / server.bucket() / "._S3rver_uploads";
            while (!done) {
                std::error_code ec;
                for (auto it = fs::recursive_directory_iterator(uploads, ec); !ec && it != fs::recursive_directory_iterator();
                     it.increment(ec)) {
                    if (it->path().filename() == "1.md5") {
                        fs::resize_file(work / "shrinking", 6 * k_mib);
                        return;
                    }
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
        auto put = s3->put("v1/packs/shrinking.pack", work / "shrinking", Overwrite::no);
        done = true;
        shrinker.join();
        REQUIRE_FALSE(put);
        INFO(put.error().message);
        CHECK(put.error().kind == ErrorKind::io);
        auto e = s3->exists("v1/packs/shrinking.pack");
        REQUIRE(e);
        CHECK_FALSE(*e);
        CHECK(open_uploads(server) == before);
    }

    SECTION("memory stays well under the object's size") {
        write_big_file(work / "bigger", 48 * k_mib, 9);
        if (!reset_peak_rss()) {
            WARN("not checked: /proc/self/clear_refs cannot reset the peak RSS here");
            return;
        }
        const std::uint64_t rss = status_kib("VmRSS:");
        REQUIRE(s3->put("v1/packs/bigger.pack", work / "bigger", Overwrite::yes));
        const std::uint64_t peak = status_kib("VmHWM:");
        INFO("RSS before " << rss << " B, peak during the upload " << peak << " B");
        CHECK(peak < rss + 8 * k_mib); // a 48 MiB object; one 1 MiB read buffer plus libcurl's
    }
}
