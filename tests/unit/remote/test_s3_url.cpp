// S3 addressing (path-style and virtual-hosted-style), what is signed for each, and the
// transport options of resolve_s3_config (addressing style, CA bundle, multipart sizes).
// No server: the requests against the loopback server are in test_s3_transport.cpp.
#include <kache/remote/s3.hpp>
#include <kache/remote/s3_url.hpp>
#include <kache/remote/sigv4.hpp>

#include "remote_test_support.hpp"

#include <map>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;

namespace {

S3BucketAddress addr(const std::string& endpoint, const std::string& bucket, S3AddressingStyle style) {
    auto ep = parse_s3_endpoint(endpoint);
    INFO((ep ? std::string() : ep.error().message));
    REQUIRE(ep);
    return address_bucket(*ep, bucket, style);
}

EnvLookup env_of(std::map<std::string, std::string> m) {
    return [m = std::move(m)](std::string_view name) -> std::optional<std::string> {
        auto it = m.find(std::string(name));
        if (it == m.end()) return std::nullopt;
        return it->second;
    };
}

const std::map<std::string, std::string> k_keys = {{"KACHE_S3_ACCESS_KEY", "AKID"}, {"KACHE_S3_SECRET_KEY", "s"},
                                                   {"HOME", "/nonexistent"}};

Result<S3Config> resolve(std::map<std::string, std::string> options, std::map<std::string, std::string> env = {}) {
    env.insert(k_keys.begin(), k_keys.end());
    return resolve_s3_config(RemoteSpec{"s3://my-cache/team", std::move(options), false}, env_of(std::move(env)));
}

bool contains(const std::string& s, const std::string& needle) { return s.find(needle) != std::string::npos; }

} // namespace

TEST_CASE("s3 addressing: virtual-hosted for AWS endpoints, path-style for others", "[s3][s3-url]") {
    using enum S3AddressingStyle;
    SECTION("the default AWS endpoint, automatic: virtual-hosted") {
        auto a = addr("https://s3.eu-west-1.amazonaws.com", "my-cache", automatic);
        CHECK(a.virtual_hosted);
        CHECK(a.authority == "my-cache.s3.eu-west-1.amazonaws.com");
        CHECK(a.path_of("") == "/");
        CHECK(a.path_of("v1/a b+c") == "/v1/a%20b%2Bc");
        CHECK(a.url_of("v1/k.pack") == "https://my-cache.s3.eu-west-1.amazonaws.com/v1/k.pack");
    }
    SECTION("China regions are AWS too") {
        CHECK(addr("https://s3.cn-north-1.amazonaws.com.cn", "my-cache", automatic).virtual_hosted);
        CHECK(is_aws_host("s3.cn-north-1.amazonaws.com.cn"));
        CHECK_FALSE(is_aws_host("amazonaws.com.evil.example"));
    }
    SECTION("a custom endpoint, automatic: path-style") {
        auto a = addr("https://minio.internal:9000/gw/", "my-cache", automatic);
        CHECK_FALSE(a.virtual_hosted);
        CHECK(a.authority == "minio.internal:9000");
        CHECK(a.path_of("") == "/gw/my-cache");
        CHECK(a.url_of("v1/k") == "https://minio.internal:9000/gw/my-cache/v1/k");
    }
    SECTION("path-style on AWS when asked") {
        auto a = addr("https://s3.us-east-1.amazonaws.com", "my-cache", path);
        CHECK_FALSE(a.virtual_hosted);
        CHECK(a.url_of("k") == "https://s3.us-east-1.amazonaws.com/my-cache/k");
    }
    SECTION("virtual-hosted on a custom endpoint when asked, base path kept") {
        auto a = addr("http://localhost:9000/gw", "kache-test", virtual_hosted);
        CHECK(a.virtual_hosted);
        CHECK(a.authority == "kache-test.localhost:9000");
        CHECK(a.path_of("") == "/gw/");
        CHECK(a.url_of("v1/k") == "http://kache-test.localhost:9000/gw/v1/k");
    }
    SECTION("bucket names that cannot be a host label fall back to path-style") {
        for (const std::string b : {"My-Cache", "my_cache", "my.cache", "ab", "-cache", "cache-", "a..b", "192.168.1.1"}) {
            INFO(b);
            auto a = addr("https://s3.us-east-1.amazonaws.com", b, virtual_hosted);
            CHECK_FALSE(a.virtual_hosted);
            CHECK(a.authority == "s3.us-east-1.amazonaws.com");
            CHECK(a.path_of("") == "/" + b);
        }
        // Dots are fine without TLS (the wildcard certificate is the only obstacle).
        CHECK(is_dns_compatible_bucket("my.cache", false));
        CHECK_FALSE(is_dns_compatible_bucket("my.cache", true));
        CHECK(addr("http://localhost:9000", "my.cache", virtual_hosted).virtual_hosted);
    }
    SECTION("an IP address endpoint has no sub-domains: path-style") {
        CHECK_FALSE(addr("http://127.0.0.1:9000", "kache-test", virtual_hosted).virtual_hosted);
        CHECK_FALSE(addr("http://[::1]:9000", "kache-test", virtual_hosted).virtual_hosted);
    }
    SECTION("endpoint checks are unchanged") {
        CHECK_FALSE(parse_s3_endpoint("http://s3.example.com"));
        CHECK_FALSE(parse_s3_endpoint("ftp://localhost"));
        CHECK_FALSE(parse_s3_endpoint("https://user@host"));
        CHECK(parse_s3_endpoint("http://127.0.0.5:1"));
    }
    SECTION("the endpoint is split by the same parser as the credential endpoints") {
        for (const char* bad : {"https://host:99999", "https://host:8x", "https://ho st", "https://host/a?b=1",
                                "https://host/#frag", "https://[[::1]]:9000", "https://a]b", "https://[zz]:1",
                                "https://", "https://host\x01"}) {
            INFO(bad);
            auto ep = parse_s3_endpoint(bad);
            REQUIRE_FALSE(ep);
            CHECK(ep.error().kind == ErrorKind::config);
            CHECK(ep.error().message.find("KACHE_S3_ENDPOINT") != std::string::npos);
        }
        auto ep = parse_s3_endpoint("HTTPS://S3.Example.COM:8443/gateway//");
        REQUIRE(ep);
        CHECK(ep->scheme == "https");
        CHECK(ep->host == "s3.example.com");
        CHECK(ep->authority == "s3.example.com:8443");
        CHECK(ep->base_path == "/gateway");
        auto v6 = parse_s3_endpoint("http://[::1]:9000");
        REQUIRE(v6);
        CHECK(v6->host == "::1");
        CHECK(v6->authority == "[::1]:9000");
        CHECK(v6->base_path.empty());
    }
}

TEST_CASE("s3 addressing: the canonical request carries the host and path that are sent", "[s3][s3-url]") {
    const sigv4::Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
    const auto when = std::chrono::sys_days{std::chrono::year{2026} / 1 / 2} + std::chrono::hours{3};
    auto canonical = [&](const S3BucketAddress& a, const std::string& key) {
        sigv4::Request r;
        r.method = "GET";
        r.path = a.path_of(key);
        r.headers = {{"Host", a.authority}};
        r.payload_hash = sigv4::sha256_hex("");
        return sigv4::sign_headers(r, creds, sigv4::Options::s3("eu-west-1"), when).canonical_request;
    };
    auto v = canonical(addr("https://s3.eu-west-1.amazonaws.com", "my-cache", S3AddressingStyle::automatic), "v1/a b");
    CHECK(v.starts_with("GET\n/v1/a%20b\n\n"));
    CHECK(contains(v, "\nhost:my-cache.s3.eu-west-1.amazonaws.com\n"));
    auto p = canonical(addr("https://s3.eu-west-1.amazonaws.com", "my-cache", S3AddressingStyle::path), "v1/a b");
    CHECK(p.starts_with("GET\n/my-cache/v1/a%20b\n\n"));
    CHECK(contains(p, "\nhost:s3.eu-west-1.amazonaws.com\n"));
}

TEST_CASE("s3 config: addressing style, CA bundle and multipart sizes", "[s3][s3-url]") {
    SECTION("defaults") {
        auto c = resolve({});
        REQUIRE(c);
        CHECK(c->addressing_style == S3AddressingStyle::automatic);
        CHECK(c->ca_bundle.empty());
        CHECK(c->multipart_threshold == k_default_multipart_threshold);
        CHECK(c->multipart_part_size == k_default_multipart_part_size);
    }
    SECTION("addressing style: the variable wins over the option; a bad value names the setting") {
        auto c = resolve({{"addressing_style", "virtual"}});
        REQUIRE(c);
        CHECK(c->addressing_style == S3AddressingStyle::virtual_hosted);
        c = resolve({{"addressing_style", "virtual"}}, {{"KACHE_S3_ADDRESSING_STYLE", "path"}});
        REQUIRE(c);
        CHECK(c->addressing_style == S3AddressingStyle::path);
        c = resolve({{"addressing_style", "vhost"}});
        REQUIRE_FALSE(c);
        CHECK(c.error().kind == ErrorKind::config);
        CHECK(contains(c.error().message, "addressing_style"));
    }
    SECTION("CA bundle: KACHE_S3_CA_BUNDLE, option ca_bundle, AWS_CA_BUNDLE; a missing file names the setting") {
        TempDir dir("kache-ca");
        write_file(dir / "ca.pem", "-----BEGIN CERTIFICATE-----\n");
        const std::string ca = (dir / "ca.pem").string();
        auto c = resolve({}, {{"AWS_CA_BUNDLE", ca}});
        REQUIRE(c);
        CHECK(c->ca_bundle == ca);
        CHECK(c->ca_bundle_source == "AWS_CA_BUNDLE");
        c = resolve({{"ca_bundle", ca}}, {{"AWS_CA_BUNDLE", "/nope"}});
        REQUIRE(c);
        CHECK(c->ca_bundle_source == "remote option ca_bundle");
        for (const auto& [opts, env, setting] :
             std::vector<std::tuple<std::map<std::string, std::string>, std::map<std::string, std::string>, std::string>>{
                 {{}, {{"AWS_CA_BUNDLE", (dir / "missing.pem").string()}}, "AWS_CA_BUNDLE"},
                 {{}, {{"KACHE_S3_CA_BUNDLE", dir.path().string()}}, "KACHE_S3_CA_BUNDLE"},
                 {{{"ca_bundle", "/nonexistent/ca.pem"}}, {}, "ca_bundle"}}) {
            auto bad = resolve(opts, env);
            REQUIRE_FALSE(bad);
            CHECK(bad.error().kind == ErrorKind::config);
            CHECK(contains(bad.error().message, setting));
        }
    }
    SECTION("multipart sizes") {
        auto c = resolve({{"multipart_threshold", "1MiB"}, {"multipart_part_size", "8M"}});
        REQUIRE(c);
        CHECK(c->multipart_threshold == 1u << 20);
        CHECK(c->multipart_part_size == 8u << 20);
        auto small = resolve({{"multipart_part_size", "1MiB"}});
        REQUIRE_FALSE(small);
        CHECK(contains(small.error().message, "multipart_part_size"));
        CHECK_FALSE(resolve({{"multipart_threshold", "lots"}}));
    }
}

TEST_CASE("s3 multipart: the part size keeps every upload within S3's limits", "[s3][s3-url]") {
    constexpr std::uint64_t mib = 1ull << 20, gib = 1ull << 30;
    CHECK(s3_multipart_part_size(100 * mib, 16 * mib) == 16 * mib);
    CHECK(s3_multipart_part_size(100 * mib, 1 * mib) == k_min_multipart_part_size);
    // A pack over 5 GiB still goes up: 6 GiB in 16 MiB parts is 384 parts.
    CHECK(s3_multipart_part_size(6 * gib, 16 * mib) == 16 * mib);
    for (std::uint64_t size : {200 * gib, 1024 * gib, 5 * 1024 * gib}) {
        INFO(size);
        std::uint64_t part = s3_multipart_part_size(size, 16 * mib);
        CHECK((size + part - 1) / part <= k_max_multipart_parts);
        CHECK(part % mib == 0);
        CHECK((size + (part - mib) - 1) / (part - mib) > k_max_multipart_parts); // the smallest whole MiB
    }
}
