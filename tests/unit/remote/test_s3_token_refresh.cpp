// Temporary credentials the server refuses before their stated expiry (ExpiredToken: a
// clock that is off, a session revoked early) are fetched again, and the request is signed
// once more with the new ones, instead of failing until the scheduled refresh.
//
// The server is a loopback stand-in (http_stand_in.hpp): the real one (tests/s3) does not
// check session tokens, so it cannot refuse one.
#include <kache/remote/s3.hpp>

#include "http_stand_in.hpp"
#include "remote_test_support.hpp"

#include <atomic>
#include <chrono>
#include <thread>

using namespace kache;
using namespace kache::remote;
using namespace std::chrono_literals;
using kache::remote::test::StandIn;
using kache::remote::test::TempDir;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_expired_reply =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>ExpiredToken</Code>"
    "<Message>The provided token has expired.</Message></Error>";

// Refuses every request signed with the first key (AKID1); answers the others with "data".
// One request per connection: the stand-in serves one connection at a time.
bool refuse_first_key(StandIn& s, int fd, const std::string& head) {
    if (head.find("Credential=AKID1/") != std::string::npos) {
        if (s.send_head(fd, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: application/xml\r\n"
                            "Content-Length: " + std::to_string(k_expired_reply.size()) + "\r\n"))
            s.send_all(fd, k_expired_reply);
        return false;
    }
    if (s.send_head(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n")) s.send_all(fd, "data");
    return false;
}

S3Config config_for(const StandIn& s, std::shared_ptr<CredentialProvider> creds) {
    S3Config c;
    c.endpoint = s.endpoint();
    c.bucket = "kache-test";
    c.region = "us-east-1";
    c.addressing_style = S3AddressingStyle::path;
    c.credentials = std::move(creds);
    c.retry.max_attempts = 2;
    c.retry.base_delay = 1ms;
    c.retry.max_delay = 5ms;
    return c;
}

} // namespace

TEST_CASE("S3: credentials refused as expired are fetched again and the request signed anew", "[remote][s3][credentials]") {
    TempDir dir;
    const fs::path dest = dir / "object";
    StandIn server(refuse_first_key);
    std::atomic<int> fetched{0};
    auto provider = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
        int n = ++fetched;
        // An hour to go by their own account.
        return Credentials{"AKID" + std::to_string(n), "secret", "token" + std::to_string(n),
                           std::chrono::system_clock::now() + 1h, "the test"};
    });
    auto backend = S3Backend::create(config_for(server, provider));
    REQUIRE(backend);
    REQUIRE(provider->current());
    // A source that just answered is not asked again at once (CredentialProvider::reject).
    std::this_thread::sleep_for(k_min_refresh_spacing + 100ms);

    auto got = (*backend)->get("v1/packs/serde/a.pack", dest);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got);
    CHECK(kache::remote::test::read_file(dest) == "data");
    CHECK(fetched == 2);
    CHECK(server.requests == 2);

    SECTION("fixed keys refused so are not retried: the error says to refresh them") {
        auto fixed = CredentialProvider::fixed({"AKID1", "secret", "token", std::nullopt, "the test"});
        auto b = S3Backend::create(config_for(server, fixed));
        REQUIRE(b);
        auto r = (*b)->get("v1/packs/serde/a.pack", dest);
        REQUIRE_FALSE(r);
        INFO(r.error().message);
        CHECK(r.error().kind == ErrorKind::denied);
        CHECK(r.error().message.find("no longer valid") != std::string::npos);
        CHECK_FALSE(fs::exists(dest));
    }
}
