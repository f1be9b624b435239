// Container credentials and instance metadata credentials, against
// tests/aws/metadata-emulator.py: a loopback stand-in for the ECS/EKS container credential
// endpoint and the EC2 instance metadata service, which cannot be reached from here. It
// answers as their documentation describes (IMDSv2 session tokens, the container's
// Authorization header). The last test signs real requests to the strict loopback S3 server
// with the credentials the emulator hands out (tag [s3-server]: run by unit_remote_s3).
#include <kache/remote/credentials.hpp>
#include <kache/remote/s3.hpp>

#include "../../../lib/remote/credential_reply.hpp"
#include "metadata_emulator.hpp"

#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/socket.h>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::MetadataEmulator;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;
namespace rtest = kache::remote::test;

namespace {

using Clock = std::chrono::steady_clock;

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

const std::string k_ecs_path = "/v2/credentials/kache-test";

// A loopback port where nothing listens (bound, then closed).
int closed_port() {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(s >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    ::close(s);
    return ntohs(a.sin_port);
}

// A loopback listener whose accept queue is full, so that a further connection attempt
// hangs as it does towards an address where nothing answers (no refusal, no reset).
class SilentListener {
public:
    SilentListener() {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(fd_, 0) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        for (int i = 0; i < 4; ++i) { // more than the queue holds: never accepted
            int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            REQUIRE(c >= 0);
            (void)::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
            fillers_.push_back(c);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ~SilentListener() {
        for (int c : fillers_) ::close(c);
        ::close(fd_);
    }
    SilentListener(const SilentListener&) = delete;
    SilentListener& operator=(const SilentListener&) = delete;
    int port() const { return port_; }

private:
    int fd_ = -1;
    int port_ = 0;
    std::vector<int> fillers_;
};

Credentials require_creds(const Result<std::optional<Credentials>>& r) {
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r);
    REQUIRE(r->has_value());
    return **r;
}

Error require_error(const Result<std::optional<Credentials>>& r) {
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(r.error().message.find('\n') == std::string::npos);
    return r.error();
}

void check_expires_in_about_an_hour(const Credentials& c) {
    REQUIRE(c.expiration);
    auto left = *c.expiration - std::chrono::system_clock::now();
    CHECK(left > std::chrono::minutes(55));
    CHECK(left < std::chrono::minutes(65));
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("credential reply: fields validated, expiration parsed", "[credentials]") {
    using detail::ReplyShape;
    const std::string ok = R"({"AccessKeyId":"ASIA1","SecretAccessKey":"s/k","Token":"t=","Expiration":"2030-01-02T03:04:05Z"})";
    auto c = detail::parse_credential_reply(ok, ReplyShape::container, "src");
    REQUIRE(c);
    CHECK(c->access_key == "ASIA1");
    CHECK(c->secret_key == "s/k");
    CHECK(c->session_token == "t=");
    CHECK(c->source == "src");
    auto t = parse_iso8601("2030-01-02T03:04:05Z");
    REQUIRE(t);
    CHECK(*c->expiration == *t);
    CHECK(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count() == 1893553445);
    CHECK(parse_iso8601("2030-01-02T03:04:05.123Z"));
    CHECK(parse_iso8601("2030-01-02T03:04:05+00:00"));
    for (const char* bad : {"", "2030-01-02", "2030-13-02T03:04:05Z", "2030-02-30T03:04:05Z", "2030-01-02T03:04:05",
                            "2030-01-02T25:04:05Z", "x030-01-02T03:04:05Z",
                            "6268-12-03T17:26:15Z", "0001-01-01T00:00:00Z"})
        CHECK_FALSE(parse_iso8601(bad));

    // The instance shape needs Code "Success".
    CHECK_FALSE(detail::parse_credential_reply(ok, ReplyShape::instance, "src"));
    auto refused = detail::parse_credential_reply(R"({"Code":"AssumeRoleUnauthorizedAccess"})", ReplyShape::instance, "src");
    REQUIRE_FALSE(refused);
    CHECK(refused.error().kind == ErrorKind::denied);
    CHECK(contains(refused.error().message, "AssumeRoleUnauthorizedAccess"));

    for (const std::string& bad :
         {std::string("not json"), std::string(R"({"AccessKeyId":"A","SecretAccessKey":"S","Token":"T"})"),
          std::string(R"({"AccessKeyId":"A B","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})"),
          std::string(R"({"AccessKeyId":"A\r\nX: y","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})"),
          std::string(R"({"AccessKeyId":1,"SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})"),
          std::string(R"({"AccessKeyId":"","SecretAccessKey":"S","Token":"T","Expiration":"2030-01-02T03:04:05Z"})"),
          R"({"AccessKeyId":"A","SecretAccessKey":"S","Token":")" + std::string(detail::k_max_credential_field + 1, 'x') +
              R"(","Expiration":"2030-01-02T03:04:05Z"})",
          std::string(k_max_credential_reply + 1, ' ')}) {
        auto r = detail::parse_credential_reply(bad, ReplyShape::container, "src");
        INFO(bad.substr(0, 120));
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::invalid_input);
    }
}

TEST_CASE("container credentials: not configured is nullopt; bad configuration is one clear error", "[credentials]") {
    auto none = container_credentials(env_of({}))();
    REQUIRE(none);
    CHECK_FALSE(none->has_value());
    CHECK_FALSE(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ""}}))()->has_value());

    // Plain http leaves the machine only to the agents' link-local addresses.
    for (const std::string uri : {"http://example.com/creds", "http://10.0.0.1/creds", "http://169.254.169.254/x",
                                  "http://127.0.0.1.evil.example/x", "http://[fd00:ec2::24]/x"}) {
        INFO(uri);
        auto e = require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}}))());
        CHECK(e.kind == ErrorKind::config);
        CHECK(contains(e.message, "plain http is allowed only to loopback, 169.254.170.2, 169.254.170.23 or fd00:ec2::23"));
    }
    for (const std::string uri : {"ftp://127.0.0.1/x", "http://user@127.0.0.1/x", "127.0.0.1/x", "http://127.0.0.1:99999/x",
                                  "http://[[d023]:80/v=1", "http://[127.0.0.1]/x", "http://a]b/x"})
        CHECK(require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}}))()).kind ==
              ErrorKind::config);
    CHECK(require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "no-slash"}}))()).kind ==
          ErrorKind::config);
    auto crlf = require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x"},
                                                            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok\r\nX-Evil: 1"}}))());
    CHECK(crlf.kind == ErrorKind::config);
    CHECK(contains(crlf.message, "AWS_CONTAINER_AUTHORIZATION_TOKEN holds a line break"));

    // The relative URI is always asked at the ECS agent's address, even with a full URI set.
    auto rel = require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"},
                                                           {"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:1/x"}}))());
    CHECK(contains(rel.message, "container credentials (http://169.254.170.2/v2/creds)"));
}

TEST_CASE("container credentials: the endpoint's keys, with the token or the token file", "[credentials]") {
    MetadataEmulator emu("ecs", {"--auth-token", "Bearer abc", "--access-key", "ASIACONTAINER", "--secret-key", "sec"});
    const std::string uri = emu.origin() + k_ecs_path;

    SECTION("token from the environment") {
        auto c = require_creds(
            container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                                          {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer abc"}}))());
        CHECK(c.access_key == "ASIACONTAINER");
        CHECK(c.secret_key == "sec");
        CHECK(c.session_token == "emulator-session-token");
        CHECK(c.source == "container credentials (" + uri + ")");
        check_expires_in_about_an_hour(c);
    }
    SECTION("token file wins, is trimmed, and is read again on every fetch") {
        fs::path file = emu.dir() / "token";
        write_file(file, "  Bearer abc\n");
        auto src = container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri},
                                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "wrong"},
                                                 {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", file.string()}}));
        CHECK(require_creds(src()).access_key == "ASIACONTAINER");
        write_file(file, "Bearer rotated-away\n");
        auto e = require_error(src());
        CHECK(e.kind == ErrorKind::denied);
        CHECK(contains(e.message, "HTTP 401"));
        fs::remove(file);
        CHECK(require_error(src()).kind == ErrorKind::io);
        REQUIRE(::mkfifo(file.c_str(), 0600) == 0); // refused at once, never waited on
        CHECK(require_error(src()).kind == ErrorKind::config);
    }
    SECTION("no token: refused") {
        auto e = require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", uri}}))());
        CHECK(e.kind == ErrorKind::denied);
    }
    SECTION("a configured endpoint that is not there is an error, not a silent fallback") {
        auto e = require_error(container_credentials(env_of(
            {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.0.0.1:" + std::to_string(closed_port()) + "/x"}}))());
        CHECK(e.kind == ErrorKind::network);
    }
}

TEST_CASE("container credentials: garbage, 500 and a hang are bounded errors", "[credentials]") {
    for (const std::string fault : {"garbage", "500", "hang"}) {
        INFO("fault " << fault);
        MetadataEmulator emu("ecs", {"--fault", fault});
        auto start = Clock::now();
        auto e = require_error(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", emu.origin() + k_ecs_path}}))());
        CHECK(Clock::now() - start < k_credential_endpoint_timeout + std::chrono::seconds(3));
        CHECK(e.kind == (fault == "garbage" ? ErrorKind::invalid_input
                         : fault == "500"   ? ErrorKind::server
                                            : ErrorKind::timeout));
    }
}

TEST_CASE("instance metadata: IMDSv2 token, role, credentials", "[credentials]") {
    MetadataEmulator emu("imds", {"--access-key", "ASIAINSTANCE", "--role", "ci-runner"});
    auto src = instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.origin() + "/"}}));
    auto c = require_creds(src());
    CHECK(c.access_key == "ASIAINSTANCE");
    CHECK(c.source == "instance metadata (IMDSv2, role ci-runner)");
    check_expires_in_about_an_hour(c);
    CHECK(emu.calls("PUT /latest/api/token") == 1);
    CHECK(emu.calls("GET /latest/meta-data/iam/security-credentials/") == 1);
    CHECK(emu.calls("GET /latest/meta-data/iam/security-credentials/ci-runner") == 1);
    // A refresh asks again (the provider decides when).
    CHECK(require_creds(src()).access_key == "ASIAINSTANCE");
    CHECK(emu.calls("PUT /latest/api/token") == 2);
}

TEST_CASE("instance metadata: disabled, absent and IMDSv1", "[credentials]") {
    SECTION("AWS_EC2_METADATA_DISABLED=true: nothing is asked") {
        MetadataEmulator emu("imds");
        auto r = instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.origin()},
                                                       {"AWS_EC2_METADATA_DISABLED", "TRUE"}}))();
        REQUIRE(r);
        CHECK_FALSE(r->has_value());
        CHECK(emu.calls("PUT /latest/api/token") == 0);
    }
    SECTION("nothing listening: nullopt at once, and not asked again") {
        SilentListener silent;
        for (const std::string& origin : {"http://127.0.0.1:" + std::to_string(closed_port()),
                                          "http://127.0.0.1:" + std::to_string(silent.port()),
                                          std::string("http://192.0.2.1")}) { // TEST-NET-1: nothing answers
            INFO(origin);
            auto src = instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", origin}}));
            auto start = Clock::now();
            auto r = src();
            INFO((r ? std::string() : r.error().message));
            REQUIRE(r);
            CHECK_FALSE(r->has_value());
            CHECK(Clock::now() - start < std::chrono::milliseconds(1'800));
            start = Clock::now();
            CHECK_FALSE(src()->has_value());
            CHECK(Clock::now() - start < std::chrono::milliseconds(50));
        }
    }
    SECTION("no token service: IMDSv1 when the service allows it") {
        MetadataEmulator emu("imds", {"--no-v2", "--imds-v1"});
        auto c = require_creds(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.origin()}}))());
        CHECK(c.source == "instance metadata (IMDSv1, role kache-test-role)");
    }
    SECTION("GET without a token: 401, reported") {
        MetadataEmulator emu("imds", {"--no-v2"});
        auto e = require_error(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.origin()}}))());
        CHECK(e.kind == ErrorKind::denied);
        CHECK(contains(e.message, "HTTP 401"));
    }
    SECTION("a bad endpoint setting") {
        auto e = require_error(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "file:///etc"}}))());
        CHECK(e.kind == ErrorKind::config);
        CHECK(contains(e.message, "AWS_EC2_METADATA_SERVICE_ENDPOINT"));
    }
}

TEST_CASE("instance metadata: garbage, 500 and a hang are bounded errors", "[credentials]") {
    for (const std::string fault : {"garbage", "500", "hang"}) {
        INFO("fault " << fault);
        MetadataEmulator emu("imds", {"--fault", fault});
        auto start = Clock::now();
        auto e = require_error(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", emu.origin()}}))());
        CHECK(Clock::now() - start < k_credential_endpoint_timeout + std::chrono::seconds(3));
        CHECK(e.kind == (fault == "garbage" ? ErrorKind::invalid_input
                         : fault == "500"   ? ErrorKind::server
                                            : ErrorKind::timeout));
    }
}

namespace {

// Exit status meson reads as "skipped".
constexpr int k_exit_skipped = 77;

// Ends the run with k_exit_skipped when the S3 server cannot run here (no node or npm): the
// start script's --install-only exits 77 exactly then.
void skip_run_unless_s3_server_can_run() {
    std::string cmd = "bash " +
                      rtest::shell_quote((rtest::s3_scripts_dir() / "start-s3-server.sh").string()) +
                      " --install-only --prefix " + rtest::shell_quote(rtest::s3_install_prefix().string()) + " 2>&1";
    auto [status, out] = rtest::run_command(cmd);
    if (WIFEXITED(status) && WEXITSTATUS(status) == k_exit_skipped) {
        std::fprintf(stderr, "SKIP: the tests against the loopback S3 server: %s", out.c_str());
        std::fflush(nullptr);
        std::exit(k_exit_skipped);
    }
    INFO("start-s3-server.sh --install-only printed:\n" << out);
    REQUIRE(status == 0);
}

Result<bool> put_and_check(const rtest::S3Server& server, const Credentials& c, const fs::path& file) {
    S3Config cfg;
    cfg.endpoint = server.endpoint();
    cfg.bucket = server.bucket();
    cfg.region = server.region();
    cfg.prefix = "metadata-creds-" + std::to_string(::getpid());
    cfg.access_key = c.access_key;
    cfg.secret_key = c.secret_key;
    cfg.session_token = c.session_token;
    cfg.credential_source = c.source;
    cfg.retry.max_attempts = 1;
    auto s3 = S3Backend::create(cfg);
    if (!s3) return std::unexpected(s3.error());
    auto p = (*s3)->put("k/" + c.access_key, file, Overwrite::yes);
    if (!p) return std::unexpected(p.error());
    return (*s3)->exists("k/" + c.access_key);
}

} // namespace

TEST_CASE("metadata credentials sign real requests to the strict S3 server", "[.][s3-server][credentials]") {
    skip_run_unless_s3_server_can_run();
    rtest::S3Server server; // checks every signature against its own keys
    TempDir work("kache-metadata-s3");
    write_file(work / "body", "packed bytes");
    const std::vector<std::string> keys = {"--access-key", server.access_key(), "--secret-key", server.secret_key()};

    {
        auto args = keys;
        args.insert(args.end(), {"--auth-token", "Bearer t"});
        MetadataEmulator ecs("ecs", args);
        auto c = require_creds(container_credentials(env_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", ecs.origin() + k_ecs_path},
                                                            {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Bearer t"}}))());
        auto r = put_and_check(server, c, work / "body");
        INFO((r ? std::string() : r.error().message));
        REQUIRE(r);
        CHECK(*r);
    }
    {
        MetadataEmulator imds("imds", keys);
        auto c = require_creds(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.origin()}}))());
        auto r = put_and_check(server, c, work / "body");
        INFO((r ? std::string() : r.error().message));
        REQUIRE(r);
        CHECK(*r);
    }
    // The server is strict: keys it does not know are refused.
    MetadataEmulator other("imds", {"--access-key", "ASIAUNKNOWN", "--secret-key", "nope"});
    auto c = require_creds(instance_metadata_credentials(env_of({{"AWS_EC2_METADATA_SERVICE_ENDPOINT", other.origin()}}))());
    auto r = put_and_check(server, c, work / "body");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::denied);
}
