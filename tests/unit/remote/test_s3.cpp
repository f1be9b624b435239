// The S3 backend against a real S3 server on 127.0.0.1 (tests/s3: s3rver behind a wrapper
// that verifies SigV4 signatures, payload hashes and If-None-Match as S3 does), plus the
// configuration resolution, which needs no server.
//
// The tests against the server are hidden (tag [.][s3-server]): `unit_remote` runs the rest,
// and the meson test `unit_remote_s3` runs them with the filter [s3-server]. Where the server
// cannot run (no node or npm, or its package cannot be installed) that run exits 77, which
// meson reports as skipped: never as passed.
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/access_log.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/remote_gc.hpp>
#include <kache/remote/s3.hpp>

#include "s3_test_support.hpp"

#include <atomic>
#include <map>
#include <set>
#include <thread>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::FaultProxy;
using kache::remote::test::read_file;
using kache::remote::test::S3Server;
using kache::remote::test::config_for;
using kache::remote::test::make;
using kache::remote::test::unique_prefix;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;

namespace {

// One server for the whole run (starting one costs about a second); stopped at exit.
S3Server* shared_server() {
    static std::unique_ptr<S3Server> server;
    if (!server) server = std::make_unique<S3Server>();
    return server.get();
}

// Exit status meson reads as "skipped".
constexpr int k_exit_skipped = 77;

// Ends the whole run with k_exit_skipped unless the server can run here: the start script's
// --install-only exits 77 exactly then (any other failure is the test's, and fails it).
void skip_run_unless_server_can_run() {
    static const bool checked = [] {
        std::string cmd = "bash " + kache::remote::test::shell_quote(
                                        (kache::remote::test::s3_scripts_dir() / "start-s3-server.sh").string()) +
                          " --install-only --prefix " +
                          kache::remote::test::shell_quote(kache::remote::test::s3_install_prefix().string()) +
                          " 2>&1";
        auto [status, out] = kache::remote::test::run_command(cmd);
        if (WIFEXITED(status) && WEXITSTATUS(status) == k_exit_skipped) {
            std::fprintf(stderr, "SKIP: the tests against the loopback S3 server: %s", out.c_str());
            std::fflush(nullptr);
            std::exit(k_exit_skipped);
        }
        INFO("start-s3-server.sh --install-only printed:\n" << out);
        REQUIRE(status == 0);
        return true;
    }();
    (void)checked;
}

#define REQUIRE_S3_SERVER()                                                                           \
    skip_run_unless_server_can_run();                                                                 \
    S3Server& server = *shared_server()


bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

} // namespace

TEST_CASE("s3: round trip of every operation", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    const std::string prefix = unique_prefix("roundtrip");
    auto s3 = make(config_for(server, prefix));
    CHECK(s3->describe() == "s3://" + server.bucket() + "/" + prefix + " at " + server.endpoint());

    // Characters that need encoding, in a key: the signature covers the encoded path.
    for (const std::string key : {"v1/packs/serde/0123abcd.pack", "v1/odd/a b+c=d&e(1)!*'~,;$@é.bin"}) {
        INFO("key " << key);
        const std::string body = kache::remote::test::random_bytes(3 * 1024 * 1024 + 17, 7);
        write_file(work / "src", body);

        auto e = s3->exists(key);
        INFO((e ? std::string() : e.error().message));
        REQUIRE(e);
        CHECK_FALSE(*e);

        auto p = s3->put(key, work / "src", Overwrite::no);
        INFO((p ? std::string() : p.error().message));
        REQUIRE(p);
        e = s3->exists(key);
        REQUIRE(e);
        CHECK(*e);

        auto g = s3->get(key, work / "dest");
        INFO((g ? std::string() : g.error().message));
        REQUIRE(g);
        CHECK(read_file(work / "dest") == body);

        write_file(work / "other", "other content");
        auto again = s3->put(key, work / "other", Overwrite::no);
        REQUIRE_FALSE(again);
        CHECK(again.error().kind == ErrorKind::conflict);
        REQUIRE(s3->get(key, work / "dest"));
        CHECK(read_file(work / "dest") == body);

        REQUIRE(s3->put(key, work / "other", Overwrite::yes));
        REQUIRE(s3->get(key, work / "dest"));
        CHECK(read_file(work / "dest") == "other content");

        auto listed = s3->list("v1/");
        REQUIRE(listed);
        bool found = false;
        for (const auto& o : *listed)
            if (o.key == key) found = o.size == std::string("other content").size();
        CHECK(found);

        REQUIRE(s3->remove(key));
        e = s3->exists(key);
        REQUIRE(e);
        CHECK_FALSE(*e);
        CHECK(s3->remove(key)); // a missing object is success
    }

    // An empty object.
    write_file(work / "empty", "");
    REQUIRE(s3->put("v1/manifests/empty", work / "empty", Overwrite::no));
    REQUIRE(s3->get("v1/manifests/empty", work / "dest"));
    CHECK(read_file(work / "dest").empty());

    // The prefix is applied: another prefix sees nothing of this one.
    auto other = make(config_for(server, unique_prefix("elsewhere")));
    auto none = other->list("");
    REQUIRE(none);
    CHECK(none->empty());
    auto mine = s3->list("");
    REQUIRE(mine);
    REQUIRE(mine->size() == 1);
    CHECK((*mine)[0].key == "v1/manifests/empty");

    // A missing object: not_found, and dest (which existed) is gone.
    write_file(work / "stale", "stale");
    auto g = s3->get("v1/missing", work / "stale");
    REQUIRE_FALSE(g);
    CHECK(g.error().kind == ErrorKind::not_found);
    CHECK_FALSE(fs::exists(work / "stale"));
    for (const auto& entry : fs::directory_iterator(work.path()))
        CHECK_FALSE(entry.path().filename().string().starts_with(".kache"));

    // Keys are validated before any request.
    auto bad = s3->put("../x", work / "empty", Overwrite::yes);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind == ErrorKind::invalid_input);
}

TEST_CASE("s3: a listing of more than 1000 objects follows continuation tokens", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    auto s3 = make(config_for(server, unique_prefix("many")));
    write_file(work / "small", "x");
    constexpr int n = 1100;
    // Several threads share one backend: each borrows its own connection.
    std::atomic<int> next{0}, failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t)
        threads.emplace_back([&] {
            for (int i = next++; i < n; i = next++) {
                char key[64];
                std::snprintf(key, sizeof key, "v1/manifests/crate%d/%05d", i % 3, i);
                if (!s3->put(key, work / "small", Overwrite::yes)) ++failures;
            }
        });
    for (auto& t : threads) t.join();
    REQUIRE(failures == 0);

    auto all = s3->list("v1/manifests/");
    INFO((all ? std::string() : all.error().message));
    REQUIRE(all);
    CHECK(all->size() == n);
    std::set<std::string> unique;
    for (const auto& o : *all) {
        unique.insert(o.key);
        CHECK(o.size == 1);
    }
    CHECK(unique.size() == n);
    CHECK(std::is_sorted(all->begin(), all->end(), [](auto& a, auto& b) { return a.key < b.key; }));

    auto one = s3->list("v1/manifests/crate1/");
    REQUIRE(one);
    CHECK(one->size() == n / 3 + (n % 3 > 1 ? 1 : 0));
}

TEST_CASE("s3: a wrong secret key is denied, naming the key id and not the secret", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    write_file(work / "x", "x");
    auto cfg = config_for(server, unique_prefix("denied"));
    cfg.secret_key = "not-the-secret-key";
    cfg.credential_source = "KACHE_S3_ACCESS_KEY";
    auto s3 = make(cfg);

    auto p = s3->put("v1/x", work / "x", Overwrite::no);
    REQUIRE_FALSE(p);
    CHECK(p.error().kind == ErrorKind::denied);
    CHECK_FALSE(p.error().retryable());
    CHECK(contains(p.error().message, "'" + server.access_key() + "'"));
    CHECK(contains(p.error().message, "KACHE_S3_ACCESS_KEY"));
    CHECK_FALSE(contains(p.error().message, "not-the-secret-key"));

    // HEAD answers without a body; the backend still says why.
    auto e = s3->exists("v1/x");
    REQUIRE_FALSE(e);
    CHECK(e.error().kind == ErrorKind::denied);
    CHECK(contains(e.error().message, server.access_key()));

    auto l = s3->list("");
    REQUIRE_FALSE(l);
    CHECK(l.error().kind == ErrorKind::denied);

    // An unknown key id is denied too.
    cfg.access_key = "AKIDUNKNOWN";
    auto unknown = make(cfg)->put("v1/x", work / "x", Overwrite::no);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().kind == ErrorKind::denied);
    CHECK(contains(unknown.error().message, "AKIDUNKNOWN"));
}

TEST_CASE("s3: a missing bucket, a wrong region and a stopped server each say so", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    write_file(work / "x", "x");

    SECTION("missing bucket") {
        auto cfg = config_for(server, "p");
        cfg.bucket = "no-such-bucket";
        auto s3 = make(cfg);
        const std::string want = "bucket 'no-such-bucket' does not exist at " + server.endpoint();
        auto p = s3->put("v1/x", work / "x", Overwrite::no);
        REQUIRE_FALSE(p);
        CHECK(p.error().kind == ErrorKind::config);
        CHECK(contains(p.error().message, want));
        auto e = s3->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::config);
        CHECK(contains(e.error().message, want));
        auto g = s3->get("v1/x", work / "dest");
        REQUIRE_FALSE(g);
        CHECK(contains(g.error().message, want));
        auto l = s3->list("");
        REQUIRE_FALSE(l);
        CHECK(contains(l.error().message, want));
        auto r = s3->remove("v1/x");
        REQUIRE_FALSE(r);
        CHECK(contains(r.error().message, want));
    }

    SECTION("wrong region") {
        auto cfg = config_for(server, "p");
        cfg.region = "eu-west-1";
        auto s3 = make(cfg);
        auto p = s3->put("v1/x", work / "x", Overwrite::no);
        REQUIRE_FALSE(p);
        CHECK(p.error().kind == ErrorKind::config);
        CHECK(contains(p.error().message, "'" + server.region() + "'"));
        CHECK(contains(p.error().message, "KACHE_S3_REGION=" + server.region()));
        auto e = s3->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::config);
        CHECK(contains(e.error().message, "KACHE_S3_REGION=" + server.region()));
    }

    SECTION("stopped server") {
        auto stopped = std::make_unique<S3Server>();
        const std::string endpoint = stopped->endpoint();
        auto cfg = config_for(*stopped, "p");
        cfg.retry = RetryPolicy{2, std::chrono::milliseconds(10), std::chrono::milliseconds(20)};
        stopped->stop();
        auto s3 = make(cfg);
        auto p = s3->put("v1/x", work / "x", Overwrite::no);
        REQUIRE_FALSE(p);
        CHECK(p.error().kind == ErrorKind::network);
        CHECK(p.error().retryable());
        CHECK(contains(p.error().message, "cannot reach the S3 endpoint " + endpoint));
        CHECK_FALSE(contains(p.error().message, "does not exist"));
        auto e = s3->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(contains(e.error().message, "cannot reach the S3 endpoint " + endpoint));
    }
}

TEST_CASE("s3: racing uploads of one key with Overwrite::no, exactly one wins", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    auto s3 = make(config_for(server, unique_prefix("race")));
    constexpr int n = 8;
    for (int i = 0; i < n; ++i)
        write_file(work / ("src" + std::to_string(i)),
                   "writer " + std::to_string(i) + kache::remote::test::random_bytes(200'000, 100 + i));
    std::atomic<int> wins{0}, conflicts{0}, winner{-1};
    std::atomic<bool> go{false};
    std::vector<std::string> other_errors(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            while (!go) std::this_thread::yield();
            auto r = s3->put("v1/packs/race/k.pack", work / ("src" + std::to_string(i)), Overwrite::no);
            if (r) {
                ++wins;
                winner = i;
            } else if (r.error().kind == ErrorKind::conflict) {
                ++conflicts;
            } else {
                other_errors[i] = r.error().message;
            }
        });
    go = true;
    for (auto& t : threads) t.join();
    for (const auto& m : other_errors) CHECK(m.empty());
    CHECK(wins == 1);
    CHECK(conflicts == n - 1);
    REQUIRE(winner >= 0);
    REQUIRE(s3->get("v1/packs/race/k.pack", work / "dest"));
    CHECK(read_file(work / "dest") == read_file(work / ("src" + std::to_string(winner.load()))));
}

// s3rver never answers 503 SlowDown or 500, never stalls and never cuts a reply short, so
// retries are exercised through tests/s3/fault-proxy.py: a real TCP proxy in front of the
// real server that injects those faults per connection while the client and its signatures
// stay unchanged (the client signs the proxy's host; the bytes are forwarded as they are).
TEST_CASE("s3: retries with backoff through a fault-injecting proxy", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    FaultProxy proxy(server.host_port());
    write_file(work / "x", "payload");
    auto cfg = config_for(server, unique_prefix("faults"));
    cfg.endpoint = proxy.endpoint();
    cfg.retry = RetryPolicy{3, std::chrono::milliseconds(10), std::chrono::milliseconds(40)};

    SECTION("503 SlowDown on every attempt: throttled after max_attempts") {
        proxy.set_mode("slowdown=1");
        auto p = make(cfg)->put("v1/x", work / "x", Overwrite::yes);
        REQUIRE_FALSE(p);
        CHECK(p.error().kind == ErrorKind::throttled);
        CHECK(p.error().retryable());
        CHECK(proxy.wait_count("slowdown", 3) == 3);
    }

    SECTION("500 on every attempt: server error after max_attempts") {
        proxy.set_mode("error500=1");
        auto e = make(cfg)->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::server);
        CHECK(proxy.wait_count("error500", 3) == 3);
    }

    SECTION("503 until the server recovers: the upload succeeds") {
        proxy.set_mode("slowdown=1");
        cfg.retry = RetryPolicy{40, std::chrono::milliseconds(20), std::chrono::milliseconds(100)};
        auto s3 = make(cfg);
        Result<void> result = fail(ErrorKind::internal, "not run");
        std::thread t([&] { result = s3->put("v1/recovered", work / "x", Overwrite::yes); });
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (proxy.count("slowdown") < 3 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        proxy.set_mode("ok");
        t.join();
        INFO((result ? std::string() : result.error().message));
        REQUIRE(result);
        CHECK(proxy.wait_count("slowdown", 3) >= 3);
        REQUIRE(s3->get("v1/recovered", work / "dest"));
        CHECK(read_file(work / "dest") == "payload");
    }

    SECTION("a reply cut short: the download is retried, then reported, and dest stays absent") {
        auto direct = make(config_for(server, cfg.prefix));
        write_file(work / "big", kache::remote::test::random_bytes(100'000, 3));
        REQUIRE(direct->put("v1/big", work / "big", Overwrite::yes));
        proxy.set_mode("truncate=1");
        auto g = make(cfg)->get("v1/big", work / "dest");
        REQUIRE_FALSE(g);
        CHECK(g.error().kind == ErrorKind::network);
        CHECK(proxy.wait_count("truncate", 3) == 3);
        CHECK_FALSE(fs::exists(work / "dest"));
    }

    SECTION("a server that never answers: timeout") {
        proxy.set_mode("stall=1");
        cfg.retry.max_attempts = 2;
        cfg.low_speed_time = std::chrono::seconds(1);
        auto start = std::chrono::steady_clock::now();
        auto e = make(cfg)->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::timeout);
        CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(15));
    }

    SECTION("connections dropped at once: network error") {
        proxy.set_mode("down");
        auto e = make(cfg)->exists("v1/x");
        REQUIRE_FALSE(e);
        CHECK(e.error().kind == ErrorKind::network);
        CHECK(proxy.wait_count("down", 3) == 3);
    }
}

TEST_CASE("s3: the s3:// scheme, environment settings and read-only specs", "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-work");
    write_file(work / "x", "x");
    register_builtin_backends();
    const std::string prefix = unique_prefix("registry");
    RemoteSpec spec{"s3://" + server.bucket() + "/" + prefix, {{"endpoint", server.endpoint()}}, false};
    // The environment the daemon would see; the test owns these variables for this case.
    ::setenv("KACHE_S3_ACCESS_KEY", server.access_key().c_str(), 1);
    ::setenv("KACHE_S3_SECRET_KEY", server.secret_key().c_str(), 1);
    ::setenv("KACHE_S3_REGION", server.region().c_str(), 1);
    auto rw = Registry::instance().create(spec);
    INFO((rw ? std::string() : rw.error().message));
    REQUIRE(rw);
    REQUIRE((*rw)->put("v1/a", work / "x", Overwrite::no));

    spec.read_only = true;
    auto ro = Registry::instance().create(spec);
    REQUIRE(ro);
    auto p = (*ro)->put("v1/b", work / "x", Overwrite::no);
    REQUIRE_FALSE(p);
    CHECK(p.error().kind == ErrorKind::denied);
    CHECK(contains(p.error().message, "read-only"));
    auto r = (*ro)->remove("v1/a");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::denied);
    auto e = (*ro)->exists("v1/a");
    REQUIRE(e);
    CHECK(*e);
    auto l = (*ro)->list("");
    REQUIRE(l);
    CHECK(l->size() == 1);
    ::unsetenv("KACHE_S3_ACCESS_KEY");
    ::unsetenv("KACHE_S3_SECRET_KEY");
    ::unsetenv("KACHE_S3_REGION");
}

// ---- no server needed ------------------------------------------------------------------------

namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
        auto it = vars.find(std::string(name));
        if (it == vars.end()) return std::nullopt;
        return it->second;
    };
}

} // namespace

TEST_CASE("s3 config: URL, options and environment, in order", "[s3][config]") {
    TempDir home("kache-home");
    // No instance metadata service is asked from a unit test.
    const std::map<std::string, std::string> base = {{"HOME", home.path().string()},
                                                     {"AWS_EC2_METADATA_DISABLED", "true"}};

    SECTION("the URL gives bucket and prefix; KACHE_S3_* override") {
        auto env = base;
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
        env["AWS_SECRET_ACCESS_KEY"] = "secretenv";
        env["AWS_SESSION_TOKEN"] = "tok";
        auto c = resolve_s3_config(RemoteSpec{"s3://bucket-a/team/cache/", {}, false}, fake_env(env));
        REQUIRE(c);
        CHECK(c->bucket == "bucket-a");
        CHECK(c->prefix == "team/cache");
        CHECK(c->region == "us-east-1");
        CHECK(c->endpoint == "https://s3.us-east-1.amazonaws.com");
        CHECK(c->access_key == "AKIDENV");
        CHECK(c->session_token == "tok");
        CHECK(contains(c->credential_source, "AWS_ACCESS_KEY_ID"));

        env["KACHE_S3_BUCKET"] = "bucket-b";
        env["KACHE_S3_PREFIX"] = "other";
        env["KACHE_S3_REGION"] = "eu-west-1";
        env["KACHE_S3_ENDPOINT"] = "http://127.0.0.1:9000";
        env["KACHE_S3_ACCESS_KEY"] = "AKIDKACHE";
        env["KACHE_S3_SECRET_KEY"] = "secretkache";
        c = resolve_s3_config(RemoteSpec{"s3://bucket-a/team/cache", {{"region", "ap-south-1"}}, false}, fake_env(env));
        REQUIRE(c);
        CHECK(c->bucket == "bucket-b");
        CHECK(c->prefix == "other");
        CHECK(c->region == "eu-west-1");
        CHECK(c->endpoint == "http://127.0.0.1:9000");
        CHECK(c->access_key == "AKIDKACHE");
        CHECK(c->session_token.empty());
        CHECK(contains(c->credential_source, "KACHE_S3_ACCESS_KEY"));
    }

    SECTION("options, and the region from the options") {
        auto c = resolve_s3_config(RemoteSpec{"s3://b", {{"access_key", "AKIDOPT"}, {"secret_key", "s"},
                                                          {"region", "ap-south-1"}, {"max_attempts", "7"}},
                                              false},
                                   fake_env(base));
        REQUIRE(c);
        CHECK(c->access_key == "AKIDOPT");
        CHECK(c->region == "ap-south-1");
        CHECK(c->endpoint == "https://s3.ap-south-1.amazonaws.com");
        CHECK(c->retry.max_attempts == 7);
        CHECK(c->prefix.empty());
    }

    SECTION("profiles from ~/.aws/credentials and ~/.aws/config") {
        fs::create_directories(home.path() / ".aws");
        write_file(home.path() / ".aws/credentials",
                   "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = sdefault\n"
                   "\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=sci\naws_session_token = tci\n");
        write_file(home.path() / ".aws/config",
                   "[default]\nregion = eu-central-1\n[profile ci]\nregion = us-west-2\ns3 =\n"
                   "  addressing_style = path\n[profile cfgonly]\naws_access_key_id = AKIDCFG\n"
                   "aws_secret_access_key = scfg\n");

        auto c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(base));
        REQUIRE(c);
        CHECK(c->access_key == "AKIDDEFAULT");
        CHECK(c->region == "eu-central-1");
        CHECK(c->profile == "default");
        CHECK(contains(c->credential_source, "profile 'default'"));

        auto env = base;
        env["AWS_PROFILE"] = "ci";
        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(env));
        REQUIRE(c);
        CHECK(c->access_key == "AKIDCI");
        CHECK(c->session_token == "tci");
        CHECK(c->region == "us-west-2");

        // AWS_* keys beat AWS_PROFILE's profile, but an explicit KACHE_S3_PROFILE beats them.
        env["AWS_ACCESS_KEY_ID"] = "AKIDENV";
        env["AWS_SECRET_ACCESS_KEY"] = "senv";
        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(env));
        REQUIRE(c);
        CHECK(c->access_key == "AKIDENV");
        env["KACHE_S3_PROFILE"] = "cfgonly";
        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(env));
        REQUIRE(c);
        CHECK(c->access_key == "AKIDCFG");
        CHECK(contains(c->credential_source, "config"));

        env["KACHE_S3_PROFILE"] = "nope";
        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(env));
        REQUIRE_FALSE(c);
        CHECK(c.error().kind == ErrorKind::config);
        CHECK(contains(c.error().message, "'nope'"));
    }

    SECTION("mistakes are config errors that name the fix") {
        auto c = resolve_s3_config(RemoteSpec{"s3://", {}, false}, fake_env(base));
        REQUIRE_FALSE(c);
        CHECK(c.error().kind == ErrorKind::config);
        CHECK(contains(c.error().message, "KACHE_S3_BUCKET"));

        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(base));
        REQUIRE_FALSE(c);
        CHECK(c.error().kind == ErrorKind::config);
        CHECK(contains(c.error().message, "KACHE_S3_ACCESS_KEY"));

        auto env = base;
        env["KACHE_S3_ACCESS_KEY"] = "AKID";
        c = resolve_s3_config(RemoteSpec{"s3://b", {}, false}, fake_env(env));
        REQUIRE_FALSE(c);
        CHECK(contains(c.error().message, "KACHE_S3_SECRET_KEY"));

        c = resolve_s3_config(RemoteSpec{"s3://b/a/../b", {}, false}, fake_env(base));
        REQUIRE_FALSE(c);
        CHECK(c.error().kind == ErrorKind::config);
    }
}

TEST_CASE("s3: plain http is refused except on loopback", "[s3][config]") {
    S3Config c;
    c.bucket = "b";
    c.access_key = "AKID";
    c.secret_key = "secret";
    for (const char* okay : {"http://127.0.0.1:9000", "http://127.1.2.3", "http://localhost:9000/", "http://[::1]:9000",
                             "https://s3.example.com", "https://minio.internal:9000/gateway"}) {
        INFO(okay);
        c.endpoint = okay;
        CHECK(S3Backend::create(c));
    }
    for (const char* refused : {"http://s3.example.com", "http://10.0.0.1:9000", "http://127.0.0.1.evil.com",
                                "http://localhost.evil.com", "http://[::2]:9000"}) {
        INFO(refused);
        c.endpoint = refused;
        auto b = S3Backend::create(c);
        REQUIRE_FALSE(b);
        CHECK(b.error().kind == ErrorKind::config);
        CHECK(contains(b.error().message, "https://"));
        CHECK(b.error().message.find('\n') == std::string::npos);
    }
    for (const char* malformed : {"s3.example.com", "ftp://x", "https://", "https://user:pw@host"}) {
        INFO(malformed);
        c.endpoint = malformed;
        auto b = S3Backend::create(c);
        REQUIRE_FALSE(b);
        CHECK(b.error().kind == ErrorKind::config);
    }
}

TEST_CASE("s3: listings carry LastModified; access objects round-trip and remote gc reads them",
          "[.][s3-server][s3]") {
    REQUIRE_S3_SERVER();
    TempDir work("kache-s3-gc");
    auto s3 = make(config_for(server, unique_prefix("gc")));
    auto now = std::chrono::system_clock::now();
    auto k2 = kache::hash::of("used"), k1 = kache::hash::of("k1");
    write_file(work / "pack", "p");
    REQUIRE(s3->put(kache::remote::pack_key("c", k2), work / "pack", Overwrite::no));
    REQUIRE(s3->put(kache::remote::manifest_key("c", "1", k1, k2), work / "pack", Overwrite::no));
    auto listed = s3->list("v1/packs/");
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    auto age = std::chrono::system_clock::to_time_t(now) - (*listed)[0].modified;
    CHECK(age > -300);
    CHECK(age < 300);

    kache::remote::AccessRecorder rec;
    rec.record(k2, now);
    auto n = rec.flush(*s3, std::string(32, 'a'), work.path(), now);
    INFO((n ? std::string() : n.error().message));
    REQUIRE(n);
    CHECK(*n == 1);
    kache::remote::GcOptions opt;
    opt.tmp_dir = work.path();
    opt.max_age = std::chrono::hours(1);
    opt.dry_run = true;
    auto report = kache::remote::gc(*s3, opt);
    REQUIRE(report);
    CHECK(report->access_objects == 1);
    CHECK(report->warnings.empty());
    CHECK(report->victims.empty());
}
