// What a remote can make kache spend: a GET is stopped at the size its caller allows and
// at a total time, a LIST at a number of pages, whatever the server sends; the default
// get_bounded of a backend that only has get() and the shared directory refuse an
// oversized object too; a pull passes each download the bound it knows.
//
// The S3 cases talk to a loopback stand-in (a socket server thread in this file), not to
// the real server (tests/s3): s3rver cannot be made to send an endless or oversized body,
// to dribble, or to truncate a listing for ever, which is the point here.
#include <kache/remote/filesystem.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/pack.hpp>
#include <kache/remote/read_only.hpp>
#include <kache/remote/s3.hpp>
#include <kache/remote/transfer.hpp>

#include "http_stand_in.hpp"
#include "remote_test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::StandIn;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
using kache::test::open_store;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t k_mib = 1ull << 20;
// The most body a stand-in sends in one reply: an endless body is this much, so that a
// client without the bound ends (with another error) instead of hanging the test.
constexpr std::uint64_t k_stand_in_body_cap = 32 * k_mib;

// Sends body bytes until cap, the client leaving, or the test ending.
void send_body(StandIn& s, int fd, std::uint64_t cap, bool chunked) {
    const std::string block(64 * 1024, 'x');
    char size_line[32];
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", block.size());
    for (std::uint64_t sent = 0; sent < cap; sent += block.size()) {
        if (chunked && !s.send_all(fd, size_line)) return;
        if (!s.send_all(fd, block)) return;
        if (chunked && !s.send_all(fd, "\r\n")) return;
    }
}

S3Config stand_in_config(const StandIn& s) {
    S3Config c;
    c.endpoint = s.endpoint();
    c.bucket = "kache-test";
    c.region = "us-east-1";
    c.access_key = "AKIDSTANDIN";
    c.secret_key = "secret";
    c.credential_source = "the test";
    c.addressing_style = S3AddressingStyle::path;
    c.retry.max_attempts = 3; // a bound's error must not be retried (a retry gets the same body)
    c.retry.base_delay = std::chrono::milliseconds(1);
    c.retry.max_delay = std::chrono::milliseconds(5);
    return c;
}

std::unique_ptr<S3Backend> make_s3(const S3Config& c) {
    auto b = S3Backend::create(c);
    INFO((b ? std::string() : b.error().message));
    REQUIRE(b);
    return std::move(*b);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A GET of a pack through the stand-in, bounded at `bound`, that must be refused as too
// large: not retried, the client hung up rather than reading on, in seconds, and nothing
// left beside dest. Returns the error's message for the caller's own checks.
std::string refused_oversized(StandIn& s, const fs::path& dest, std::uint64_t bound) {
    auto b = make_s3(stand_in_config(s));
    auto start = std::chrono::steady_clock::now();
    auto r = b->get_bounded("v1/packs/serde/a.pack", dest, bound);
    const double took = seconds_since(start);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(contains(r.error().message, std::to_string(bound)));
    CHECK(s.requests == 1); // not retried
    CHECK(s.body_sent < k_stand_in_body_cap); // the client hung up, it did not read on
    CHECK(took < 5.0);
    CHECK(fs::is_empty(dest.parent_path())); // no dest, no temp file beside it
    return r.error().message;
}

} // namespace

TEST_CASE("remote bounds: an S3 GET stops at the caller's bound", "[remote][s3][bounds]") {
    TempDir dir;
    const fs::path dest = dir / "out" / "object";
    fs::create_directories(dest.parent_path());
    const std::uint64_t bound = 1 * k_mib;

    SECTION("a reply announcing more than the bound is refused before a byte is kept") {
        StandIn s([](StandIn& self, int fd, const std::string&) {
            if (self.send_head(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n"))
                send_body(self, fd, k_stand_in_body_cap, false);
            return false;
        });
        auto message = refused_oversized(s, dest, bound);
        CHECK(contains(message, "s3://kache-test/v1/packs/serde/a.pack"));
        CHECK(contains(message, "announces 10737418240 bytes"));
        CHECK(contains(message, "remove it from the remote"));
        CHECK(message.find('\n') == std::string::npos);
    }
    SECTION("an endless body without a length is cut at the bound") {
        StandIn s([](StandIn& self, int fd, const std::string&) {
            if (self.send_head(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"))
                send_body(self, fd, k_stand_in_body_cap, true);
            return false;
        });
        CHECK(contains(refused_oversized(s, dest, bound), "runs on"));
    }
    SECTION("a body dribbled above the low-speed limit's reach stops at the total-time bound") {
        // One byte every 50 ms: 1 KiB would take 51 s, and the low-speed limit (1 KiB/s
        // over 20 s) would end it only after 20 s.
        StandIn s([](StandIn& self, int fd, const std::string&) {
            if (!self.send_head(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n")) return false;
            for (int i = 0; i < 1024 && !self.stopping(); ++i) {
                if (!self.send_all(fd, "x")) return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            return false;
        });
        auto cfg = stand_in_config(s);
        cfg.retry.max_attempts = 1;
        cfg.get_time_floor = std::chrono::milliseconds(1'000);
        cfg.get_min_rate = 1'024; // 1 KiB allowed 1 s + 1 s
        auto b = make_s3(cfg);
        auto start = std::chrono::steady_clock::now();
        auto r = b->get_bounded("v1/manifests/serde/1.0.0/k1/k2", dest, 1'024);
        const double took = seconds_since(start);
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::timeout);
        CHECK(contains(r.error().message, "2 s allowed"));
        CHECK(took < 10.0);
        CHECK(fs::is_empty(dest.parent_path()));
    }
    SECTION("an object within the bound arrives whole") {
        StandIn s([](StandIn& self, int fd, const std::string&) {
            return self.send_head(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n") && self.send_all(fd, "hello");
        });
        auto b = make_s3(stand_in_config(s));
        auto r = b->get_bounded("v1/packs/serde/a.pack", dest, 5);
        INFO((r ? std::string() : r.error().message));
        REQUIRE(r);
        CHECK(kache::remote::test::read_file(dest) == "hello");
    }
}

TEST_CASE("remote bounds: an S3 LIST that never ends is refused", "[remote][s3][bounds]") {
    SECTION("truncated pages with fresh tokens for ever stop at k_max_list_pages") {
        StandIn s([](StandIn& self, int fd, const std::string&) {
            // Ends after twice the cap, so that a client without it ends (with a list) too.
            const bool more = self.requests.load() < 2 * static_cast<int>(k_max_list_pages);
            const std::string body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>"
                                     "<IsTruncated>" + std::string(more ? "true" : "false") +
                                     "</IsTruncated><NextContinuationToken>t" + std::to_string(self.requests.load()) +
                                     "</NextContinuationToken></ListBucketResult>";
            return self.send_head(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: " +
                                          std::to_string(body.size()) + "\r\n") &&
                   self.send_all(fd, body);
        });
        auto b = make_s3(stand_in_config(s));
        auto r = b->list("v1/manifests/serde/");
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::server);
        CHECK(contains(r.error().message, std::to_string(k_max_list_pages) + " pages"));
        CHECK(contains(r.error().message, "KACHE_S3_ENDPOINT"));
        CHECK(s.requests == static_cast<int>(k_max_list_pages));
    }
    SECTION("a page larger than a page can be is cut off") {
        StandIn s([](StandIn& self, int fd, const std::string&) {
            if (self.send_head(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n"))
                send_body(self, fd, k_stand_in_body_cap, false);
            return false;
        });
        auto b = make_s3(stand_in_config(s));
        auto r = b->list("v1/manifests/serde/");
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK(contains(r.error().message, "announces 1073741824 bytes"));
        CHECK(s.requests == 1);
        CHECK(s.body_sent < k_stand_in_body_cap);
    }
}

namespace {
// A backend with get() only, as an embedder's may be: get_bounded is the interface's default.
class OnlyGet final : public RemoteBackend {
public:
    explicit OnlyGet(std::string body) : body_(std::move(body)) {}
    Result<bool> exists(const std::string&) override { return true; }
    Result<void> get(const std::string&, const fs::path& dest) override {
        write_file(dest, body_);
        return ok();
    }
    Result<void> put(const std::string&, const fs::path&, Overwrite) override { return ok(); }
    Result<std::vector<ObjectInfo>> list(const std::string&) override { return std::vector<ObjectInfo>{}; }
    Result<void> remove(const std::string&) override { return ok(); }
    std::string describe() const override { return "only-get"; }

private:
    std::string body_;
};

// Records the bound of every download, and passes it on.
class BoundSpy final : public RemoteBackend {
public:
    explicit BoundSpy(RemoteBackend& inner) : inner_(inner) {}
    Result<bool> exists(const std::string& key) override { return inner_.exists(key); }
    Result<void> get(const std::string& key, const fs::path& dest) override {
        bounds.emplace_back(key, 0);
        return inner_.get(key, dest);
    }
    Result<void> get_bounded(const std::string& key, const fs::path& dest, std::uint64_t max_bytes) override {
        bounds.emplace_back(key, max_bytes);
        return inner_.get_bounded(key, dest, max_bytes);
    }
    Result<void> put(const std::string& key, const fs::path& src, Overwrite o) override { return inner_.put(key, src, o); }
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override { return inner_.list(prefix); }
    Result<void> remove(const std::string& key) override { return inner_.remove(key); }
    std::string describe() const override { return "spy on " + inner_.describe(); }
    std::vector<std::pair<std::string, std::uint64_t>> bounds;

private:
    RemoteBackend& inner_;
};
} // namespace

TEST_CASE("remote bounds: the default get_bounded and the shared directory refuse an oversized object",
          "[remote][bounds]") {
    TempDir dir;
    const fs::path dest = dir / "out" / "object";
    fs::create_directories(dest.parent_path());

    SECTION("a backend with only get(): checked after the download, dest removed") {
        OnlyGet b(std::string(100, 'x'));
        auto r = b.get_bounded("v1/packs/serde/a.pack", dest, 99);
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK(contains(r.error().message, "v1/packs/serde/a.pack"));
        CHECK(contains(r.error().message, "100 bytes"));
        CHECK(contains(r.error().message, "99 bytes"));
        CHECK_FALSE(fs::exists(dest));
        REQUIRE(b.get_bounded("v1/packs/serde/a.pack", dest, 100));
        CHECK(fs::file_size(dest) == 100);
    }
    SECTION("the shared directory, and the read-only wrapper around it, refuse it by its size") {
        fs::create_directories(dir / "remote");
        write_file(dir / "remote" / "v1" / "packs" / "serde" / "a.pack", std::string(100, 'x'));
        auto fsb = FilesystemBackend::create(dir / "remote");
        REQUIRE(fsb);
        auto ro = make_read_only(std::move(*fsb));
        auto r = ro->get_bounded("v1/packs/serde/a.pack", dest, 99);
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK(contains(r.error().message, "100 bytes"));
        CHECK(fs::is_empty(dest.parent_path()));
        REQUIRE(ro->get_bounded("v1/packs/serde/a.pack", dest, 100));
        CHECK(fs::file_size(dest) == 100);
    }
}

TEST_CASE("remote bounds: a pull bounds each download by what the object may be", "[remote][bounds][transfer]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    fs::create_directories(dir / "remote");
    auto fsb = FilesystemBackend::create(dir / "remote");
    REQUIRE(fsb);
    // Pushed by hand: a manifest object naming a pack that is larger than the pull's limits allow.
    key::InputSet set;
    set.files.push_back({"{{kache:cwd}}/src/lib.rs", hash::of("source")});
    store::Entry e;
    e.crate = "serde";
    e.version = "1.0.0";
    e.k1 = hash::of("k1");
    e.k2 = key::result_key(e.k1, set);
    auto blob = a.put_blob("rlib");
    REQUIRE(blob);
    e.outputs.push_back({"libserde.rlib", *blob, 4, 0644, false});
    REQUIRE(a.add_input_set(e.k1, set));
    REQUIRE(a.write_entry(e));
    REQUIRE(push_entry(a, **fsb, e.k2));

    PackLimits tight;
    tight.max_entry_bytes = 64;
    tight.max_total_bytes = 64;
    tight.max_blobs = 1;
    write_file(dir / "remote" / pack_key(e), std::string(max_pack_bytes(tight) + 1, 'x'));

    BoundSpy spy(**fsb); // no open_local: the pull downloads through get_bounded
    auto b = open_store(dir / "b");
    auto r = pull_entry(b, spy, manifest_key(e), "remote", tight);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().kind == ErrorKind::corrupt);
    REQUIRE(spy.bounds.size() == 2);
    CHECK(spy.bounds[0].first == manifest_key(e));
    CHECK(spy.bounds[0].second == 16 * k_mib); // k_max_manifest_object_bytes
    CHECK(spy.bounds[1].first == pack_key(e));
    CHECK(spy.bounds[1].second == max_pack_bytes(tight));
    CHECK_FALSE(b.has_entry(e.k2));
    CHECK(fs::is_empty(b.tmp_dir()));
}
