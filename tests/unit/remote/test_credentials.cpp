// The credential chain's order (a fake environment and temp ~/.aws files), credential_process
// with real processes, the parsers of untrusted answers, and the refreshing provider.
#include <kache/remote/credentials.hpp>

#include "remote_test_support.hpp"

#include <sys/stat.h>

#include <atomic>
#include <map>
#include <thread>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string iso_in(std::chrono::seconds from_now) {
    auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
    return buf;
}

fs::path script(const fs::path& dir, const std::string& name, const std::string& body) {
    fs::path p = dir / name;
    write_file(p, "#!/bin/sh\n" + body);
    ::chmod(p.c_str(), 0755);
    return p;
}

} // namespace

TEST_CASE("credential chain: the SDKs' order", "[credentials]") {
    TempDir home("kache-cred-home");
    fs::create_directories(home.path() / ".aws");
    std::map<std::string, std::string> env = {{"HOME", home.path().string()}, {"AWS_EC2_METADATA_DISABLED", "true"}};
    const RemoteSpec spec{"s3://b", {}, false};
    auto fetch = [&](const RemoteSpec& s = RemoteSpec{"s3://b", {}, false}) { return default_chain(s, env_of(env))(); };

    SECTION("nothing configured: no answer, no error") {
        auto r = fetch();
        REQUIRE(r);
        CHECK_FALSE(*r);
    }
    SECTION("explicit keys beat the environment, which beats web identity and the default profile") {
        write_file(home.path() / ".aws/credentials", "[default]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = s\n");
        auto r = fetch();
        REQUIRE(r);
        REQUIRE(*r);
        CHECK((*r)->access_key == "AKIDPROFILE");
        CHECK(contains((*r)->source, "profile 'default'"));

        env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = (home.path() / "no-such-token").string();
        r = fetch();
        REQUIRE_FALSE(r); // web identity is configured, and comes before the profile: its failure stops the chain
        CHECK(contains(r.error().message, "AWS_WEB_IDENTITY_TOKEN_FILE"));

        env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
        env["AWS_SECRET_ACCESS_KEY"] = "senv";
        r = fetch();
        REQUIRE(r);
        CHECK((*r)->access_key == "AKIDENV");
        CHECK((*r)->source == "environment AWS_ACCESS_KEY_ID");

        r = fetch(RemoteSpec{"s3://b", {{"access_key", "AKIDOPT"}, {"secret_key", "sopt"}}, false});
        REQUIRE(r);
        CHECK((*r)->access_key == "AKIDOPT");

        env["KACHE_S3_ACCESS_KEY"] = "AKIDKACHE";
        env["KACHE_S3_SECRET_KEY"] = "skache";
        r = fetch();
        REQUIRE(r);
        CHECK((*r)->access_key == "AKIDKACHE");
    }
    SECTION("half a pair, or half of web identity, is an error") {
        env["AWS_ACCESS_KEY_ID"] = "AKID";
        auto r = fetch();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "AWS_SECRET_ACCESS_KEY"));
        env.erase("AWS_ACCESS_KEY_ID");
        env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
        r = fetch();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "AWS_WEB_IDENTITY_TOKEN_FILE"));
    }
    SECTION("an explicit profile comes before the environment; a missing one is an error") {
        write_file(home.path() / ".aws/config", "[profile ci]\naws_access_key_id = AKIDCI\naws_secret_access_key = sci\n");
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
        env["AWS_SECRET_ACCESS_KEY"] = "senv";
        env["KACHE_S3_PROFILE"] = "ci";
        auto r = fetch();
        REQUIRE(r);
        CHECK((*r)->access_key == "AKIDCI");
        env["KACHE_S3_PROFILE"] = "nope";
        r = fetch();
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::config);
        CHECK(contains(r.error().message, "'nope'"));
    }
    SECTION("a profile's credential_process, and SSO named with its workaround") {
        fs::path helper = script(home.path(), "helper.sh",
                                 "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"sp\", "
                                 "\"SessionToken\": \"tp\", \"Expiration\": \"" + iso_in(1h) + "\"}'\n");
        write_file(home.path() / ".aws/config", "[profile p]\ncredential_process = " + helper.string() +
                                                    "\n[profile sso]\nsso_start_url = https://x.awsapps.com/start\n");
        env["AWS_PROFILE"] = "p";
        auto r = fetch();
        REQUIRE(r);
        REQUIRE(*r);
        CHECK((*r)->access_key == "AKIDPROC");
        CHECK((*r)->session_token == "tp");
        CHECK((*r)->expiration);
        CHECK((*r)->source == "credential_process in profile 'p'");
        env["AWS_PROFILE"] = "sso";
        r = fetch();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "export-credentials"));
    }
    SECTION("role_arn without a source is an error naming the fix") {
        write_file(home.path() / ".aws/config", "[profile r]\nrole_arn = arn:aws:iam::1:role/r\n");
        env["AWS_PROFILE"] = "r";
        auto r = fetch();
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "source_profile"));
    }
    SECTION("an STS endpoint in the clear to another host is refused before anything is sent") {
        write_file(home.path() / "token", "tok\n");
        env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = (home.path() / "token").string();
        env["AWS_ENDPOINT_URL_STS"] = "http://sts.example.com";
        auto r = fetch();
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::config);
        CHECK(contains(r.error().message, "https"));
    }
    SECTION("a host name that only begins like a loopback address is not loopback") {
        write_file(home.path() / "token", "tok\n");
        env["AWS_ROLE_ARN"] = "arn:aws:iam::1:role/r";
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = (home.path() / "token").string();
        env["AWS_ENDPOINT_URL_STS"] = "http://127.attacker.example:8080/";
        auto r = fetch();
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::config);
        CHECK(contains(r.error().message, "https"));
    }
}

TEST_CASE("credential_process: real processes, bounded", "[credentials]") {
    TempDir dir("kache-cred-proc");
    SECTION("a script printing JSON") {
        auto p = script(dir.path(), "ok.sh",
                        "printf '%s' '{\"Version\":1,\"AccessKeyId\":\"AK\",\"SecretAccessKey\":\"SK\"}'\n");
        auto r = run_credential_process(p.string(), "proc");
        REQUIRE(r);
        CHECK(r->access_key == "AK");
        CHECK_FALSE(r->expiration);
    }
    SECTION("one that hangs is killed at the deadline") {
        auto p = script(dir.path(), "hang.sh", "sleep 30 & sleep 30\n");
        auto t0 = std::chrono::steady_clock::now();
        auto r = run_credential_process(p.string(), "proc", 500ms);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::timeout);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
    }
    SECTION("garbage, endless output and a failing exit are errors") {
        auto r = run_credential_process(script(dir.path(), "junk.sh", "echo 'not json {'\n").string(), "proc");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::invalid_input);
        r = run_credential_process(script(dir.path(), "flood.sh", "yes\n").string(), "proc", 5s);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "more than"));
        r = run_credential_process(script(dir.path(), "fail.sh", "echo 'login expired' >&2; exit 3\n").string(), "proc");
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, "status 3"));
        CHECK(contains(r.error().message, "login expired"));
    }
}

TEST_CASE("credential parsers: untrusted answers", "[credentials]") {
    CHECK(parse_iso8601("2026-12-06T17:00:00Z"));
    CHECK(parse_iso8601("2026-12-06T17:00:00.123Z"));
    CHECK(*parse_iso8601("2026-12-06T19:00:00+02:00") == *parse_iso8601("2026-12-06T17:00:00Z"));
    for (const char* bad : {"", "2026-13-06T17:00:00Z", "2026-02-30T17:00:00Z", "2026-12-06T17:00:00Zjunk", "soon",
                            "6268-12-03T17:26:15Z", "0001-01-01T00:00:00Z"})
        CHECK_FALSE(parse_iso8601(bad));

    const std::string xml = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA</AccessKeyId>"
                            "<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"
                            "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult>"
                            "</AssumeRoleResponse>";
    auto c = parse_sts_credentials(xml, "sts");
    REQUIRE(c);
    CHECK(c->access_key == "ASIA");
    CHECK(c->session_token == "t");
    for (const std::string& bad : {std::string("<x"), std::string("<A><B></B></A>"),
                                   std::string(xml).replace(xml.find("2030"), 4, "20x0"),
                                   std::string(k_max_credential_reply + 1, ' ')})
        CHECK_FALSE(parse_sts_credentials(bad, "sts"));
    CHECK_FALSE(parse_process_credentials("{\"Version\":2,\"AccessKeyId\":\"a\",\"SecretAccessKey\":\"b\"}", "p"));
    CHECK_FALSE(parse_process_credentials("{\"Version\":1,\"AccessKeyId\":\"a\"}", "p"));
}

TEST_CASE("credential provider: credentials a server refused are fetched again", "[credentials]") {
    std::atomic<int> calls{0};
    auto p = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
        ++calls;
        // An hour to go by their own account: only the server's refusal says otherwise.
        return Credentials{"AK" + std::to_string(calls.load()), "s", "t" + std::to_string(calls.load()),
                           std::chrono::system_clock::now() + 1h, "test"};
    });
    auto first = p->current();
    REQUIRE(first);
    // Just fetched: a source that hands out the same refused token is not asked again at once.
    CHECK_FALSE(p->reject(*first));
    CHECK(p->current()->access_key == "AK1");
    std::this_thread::sleep_for(k_min_refresh_spacing + 100ms);
    CHECK(p->reject(*first));
    auto second = p->current();
    REQUIRE(second);
    CHECK(second->access_key == "AK2");
    CHECK(calls == 2);
    // Another request refused with the old ones meanwhile: newer ones are there already.
    CHECK(p->reject(*first));
    CHECK(p->current()->access_key == "AK2");
    CHECK(calls == 2);

    auto fixed = CredentialProvider::fixed({"AK", "s", "", std::nullopt, "test"});
    CHECK_FALSE(fixed->reject(*fixed->current()));
}

TEST_CASE("credential provider: refresh before expiry", "[credentials]") {
    SECTION("credentials within the margin are fetched again") {
        std::atomic<int> calls{0};
        auto p = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
            ++calls;
            return Credentials{"AK" + std::to_string(calls.load()), "s", "t",
                               std::chrono::system_clock::now() + k_refresh_margin + 1s, "test"};
        });
        auto a = p->current();
        REQUIRE(a);
        CHECK(a->access_key == "AK1");
        CHECK(p->current()->access_key == "AK1"); // still fresh
        CHECK(calls == 1);
        std::this_thread::sleep_for(1500ms);
        auto b = p->current();
        REQUIRE(b);
        CHECK(calls == 2);
        CHECK(b->access_key == "AK2");
    }
    SECTION("a failed refresh keeps still-valid credentials; expired and failing is an error") {
        std::atomic<int> calls{0};
        std::atomic<bool> broken{false};
        std::atomic<long> lifetime_s{long(k_refresh_margin.count() * 60 + 1)};
        auto p = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
            ++calls;
            if (broken) return fail(ErrorKind::denied, "the role is gone");
            return Credentials{"AK", "s", "t", std::chrono::system_clock::now() + std::chrono::seconds(lifetime_s.load()),
                               "test"};
        });
        REQUIRE(p->current());
        broken = true;
        std::this_thread::sleep_for(1500ms);
        auto kept = p->current();
        REQUIRE(kept); // the refresh failed, but the credentials still work
        CHECK(calls == 2);

        auto q = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
            ++calls;
            return fail(ErrorKind::denied, "the role is gone");
        });
        auto e = q->current();
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::denied);
        CHECK(contains(e.error().message, "the role is gone"));
    }
    SECTION("expired credentials are not used while the source fails") {
        std::atomic<int> calls{0};
        auto p = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
            if (++calls == 1)
                return Credentials{"AK", "s", "t", std::chrono::system_clock::now() + 60s, "test"};
            return fail(ErrorKind::network, "STS is down");
        });
        REQUIRE(p->current());  // already inside the margin, and 60 s from expiry
        std::this_thread::sleep_for(1100ms);
        REQUIRE(p->current());  // refresh failed: the still-valid ones are kept
        auto expired = CredentialProvider::from_source([]() -> Result<std::optional<Credentials>> {
            return Credentials{"AK", "s", "t", std::chrono::system_clock::now() - 1s, "test"};
        });
        CHECK_FALSE(expired->current());
    }
    SECTION("many threads: one refresh at a time, nobody fails") {
        std::atomic<int> calls{0}, inflight{0}, overlap{0};
        auto p = CredentialProvider::from_source([&]() -> Result<std::optional<Credentials>> {
            if (++inflight > 1) ++overlap;
            ++calls;
            std::this_thread::sleep_for(20ms);
            --inflight;
            return Credentials{"AK", "s", "t", std::chrono::system_clock::now() + 1h, "test"};
        });
        std::vector<std::thread> ts;
        std::atomic<int> failures{0};
        for (int i = 0; i < 8; ++i)
            ts.emplace_back([&] {
                for (int j = 0; j < 50; ++j)
                    if (!p->current()) ++failures;
            });
        for (auto& t : ts) t.join();
        CHECK(failures == 0);
        CHECK(overlap == 0);
        CHECK(calls == 1);
    }
    SECTION("fixed credentials never expire") {
        auto p = CredentialProvider::fixed({"AK", "s", "", std::nullopt, "test"});
        CHECK(p->current()->access_key == "AK");
    }
}
