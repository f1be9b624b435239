// The SigV4 signer against AWS's published vectors (tests/data/sigv4, see its README.md):
// the 2015 test suite (generic rules), aws-c-auth's v4 suite (header and presigned forms,
// normalised and S3-style paths, session tokens) and the S3 documentation examples.
#include <kache/remote/sigv4.hpp>

#include <catch2/catch.hpp>
#include <simdjson.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace sigv4 = kache::remote::sigv4;

namespace {

fs::path data_dir() {
    const char* env = std::getenv("KACHE_TEST_DATA");
    REQUIRE(env != nullptr); // meson sets it; a run without it would test nothing
    return fs::path(env) / "sigv4";
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in.good());
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    std::size_t i = 0;
    while (i < s.size() && s[i] == ' ') ++i;
    return s.substr(i);
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

std::chrono::system_clock::time_point utc(int y, int mo, int d, int h, int mi, int s) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return std::chrono::system_clock::from_time_t(timegm(&tm));
}

// "2015-08-30T12:36:00Z" or "20150830T123600Z"
std::chrono::system_clock::time_point parse_time(const std::string& t) {
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (t.find('-') != std::string::npos)
        REQUIRE(std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ", &y, &mo, &d, &h, &mi, &s) == 6);
    else
        REQUIRE(std::sscanf(t.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &y, &mo, &d, &h, &mi, &s) == 6);
    return utc(y, mo, d, h, mi, s);
}

// How a header line starting with whitespace is read: the 2015 suite treats it as another
// value of the previous header (joined with ','); the v4 suite as a folded continuation of
// the same value (collapsed to one space).
enum class Folding { separate_values, continuation };

struct ParsedRequest {
    sigv4::Request req;
    std::string body;
    std::string target; // the request-target, query included
};

ParsedRequest parse_http(const std::string& text, Folding folding) {
    ParsedRequest out;
    std::string head = text;
    if (auto blank = text.find("\n\n"); blank != std::string::npos) {
        head = text.substr(0, blank);
        out.body = text.substr(blank + 2);
    }
    std::vector<std::string> lines;
    std::stringstream ss(head);
    for (std::string line; std::getline(ss, line, '\n');) lines.push_back(line);
    REQUIRE(!lines.empty());

    // "METHOD target HTTP/1.1", where the target itself may hold spaces.
    const std::string& rl = lines[0];
    auto sp1 = rl.find(' ');
    auto sp2 = rl.rfind(' ');
    REQUIRE(sp1 != std::string::npos);
    REQUIRE(sp2 > sp1);
    out.req.method = rl.substr(0, sp1);
    out.target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
    auto q = out.target.find('?');
    out.req.path = out.target.substr(0, q);
    if (q != std::string::npos) out.req.query = sigv4::parse_query(out.target.substr(q + 1));

    for (std::size_t i = 1; i < lines.size(); ++i) {
        const std::string& line = lines[i];
        if (line.empty()) continue;
        if ((line[0] == ' ' || line[0] == '\t') && !out.req.headers.empty()) {
            if (folding == Folding::separate_values)
                out.req.headers.push_back({out.req.headers.back().name, line});
            else
                out.req.headers.back().value += "\n" + line;
            continue;
        }
        auto colon = line.find(':');
        REQUIRE(colon != std::string::npos);
        out.req.headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    out.req.payload_hash = sigv4::sha256_hex(out.body);
    return out;
}

// The value of the first header line named `name` in a signed request text, or "".
std::string header_line(const std::string& text, std::string_view name) {
    std::stringstream ss(text);
    for (std::string line; std::getline(ss, line, '\n');) {
        if (line.empty()) break;
        auto colon = line.find(':');
        if (colon != std::string::npos && iequals(line.substr(0, colon), name)) return trim(line.substr(colon + 1));
    }
    return "";
}

std::vector<std::pair<std::string, std::string>> sorted_pairs(const std::vector<sigv4::QueryParam>& q) {
    std::vector<std::pair<std::string, std::string>> v;
    for (const auto& p : q) v.emplace_back(p.name, p.value);
    std::sort(v.begin(), v.end());
    return v;
}

const sigv4::Credentials k_suite_creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

} // namespace

TEST_CASE("sigv4: primitives", "[sigv4]") {
    CHECK(sigv4::sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    sigv4::Sha256 h;
    h.update("Welcome to ");
    h.update("Amazon S3.");
    CHECK(h.finish_hex() == sigv4::sha256_hex("Welcome to Amazon S3."));
    CHECK(sigv4::uri_encode("a b/c~$é", true) == "a%20b/c~%24%C3%A9");
    CHECK(sigv4::uri_encode("a b/c", false) == "a%20b%2Fc");
    CHECK(sigv4::uri_decode("a%20b%2fc%zz%") == "a b/c%zz%");
    CHECK(sigv4::amz_date(utc(2015, 8, 30, 12, 36, 0)) == "20150830T123600Z");
    auto q = sigv4::parse_query("b=2&&a=%41&flag");
    REQUIRE(q.size() == 3);
    CHECK(q[1].name == "a");
    CHECK(q[1].value == "A");
    CHECK(q[2].name == "flag");
    CHECK(q[2].value.empty());
    // S3 rules: one encoding, no normalisation; generic: normalised, encoded again.
    auto s3 = sigv4::Options::s3("us-east-1");
    auto gen = sigv4::Options::generic("us-east-1", "service");
    CHECK(sigv4::canonical_uri("/b/a//./x%20y", s3) == "/b/a//./x%20y");
    CHECK(sigv4::canonical_uri("/b/a//./x y", s3) == "/b/a//./x%20y");
    CHECK(sigv4::canonical_uri("/b/a//./x%20y", gen) == "/b/a/x%2520y");
    CHECK(sigv4::canonical_uri("", s3) == "/");
}

TEST_CASE("sigv4: the 2015 AWS test suite (generic rules)", "[sigv4]") {
    const fs::path root = data_dir();
    const auto when = utc(2015, 8, 30, 12, 36, 0);
    const auto opts = sigv4::Options::generic("us-east-1", "service");
    int cases = 0;
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
        if (!entry.is_directory()) continue;
        const fs::path dir = entry.path();
        const std::string name = dir.filename().string();
        if (!fs::exists(dir / (name + ".req"))) continue;
        if (dir.parent_path().filename() == "aws-signing-test-suite-v4") continue;
        ++cases;
        DYNAMIC_SECTION(fs::relative(dir, root).string()) {
            ParsedRequest p = parse_http(slurp(dir / (name + ".req")), Folding::separate_values);
            const std::string sreq = slurp(dir / (name + ".sreq"));

            // The requests carry X-Amz-Date already; the signer adds it itself, from `when`.
            auto& hs = p.req.headers;
            auto date_it = std::find_if(hs.begin(), hs.end(), [](auto& h) { return iequals(h.name, "x-amz-date"); });
            REQUIRE(date_it != hs.end());
            REQUIRE(trim(date_it->value) == sigv4::amz_date(when));
            hs.erase(date_it);

            // post-sts-header-after: the token is added after signing, outside the signature.
            sigv4::Credentials creds = k_suite_creds;
            sigv4::Options o = opts;
            std::string token_after = header_line(sreq, "X-Amz-Security-Token");
            bool token_in_req = std::any_of(hs.begin(), hs.end(), [](auto& h) { return iequals(h.name, "x-amz-security-token"); });
            if (!token_after.empty() && !token_in_req) {
                creds.session_token = token_after;
                o.sign_session_token = false;
            }

            auto s = sigv4::sign_headers(p.req, creds, o, when);
            CHECK(s.canonical_request == slurp(dir / (name + ".creq")));
            CHECK(s.string_to_sign == slurp(dir / (name + ".sts")));
            CHECK(s.authorization == slurp(dir / (name + ".authz")));
            CHECK(header_line(sreq, "Authorization") == s.authorization);
            for (const auto& added : s.headers_to_add) CHECK(header_line(sreq, added.name) == added.value);
        }
    }
    CHECK(cases == 31);
}

TEST_CASE("sigv4: aws-c-auth v4 suite, header and presigned forms", "[sigv4]") {
    const fs::path root = data_dir() / "aws-signing-test-suite-v4";
    REQUIRE(fs::exists(root / "LICENSE"));
    REQUIRE(fs::exists(root / "NOTICE"));
    int cases = 0;
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(root))
        if (fs::exists(entry.path() / "context.json")) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    for (const fs::path& dir : dirs) {
        ++cases;
        DYNAMIC_SECTION(dir.filename().string()) {
            simdjson::dom::parser parser;
            simdjson::dom::element ctx = parser.load((dir / "context.json").string());
            sigv4::Credentials creds;
            creds.access_key_id = std::string(std::string_view(ctx["credentials"]["access_key_id"]));
            creds.secret_access_key = std::string(std::string_view(ctx["credentials"]["secret_access_key"]));
            if (auto tok = ctx["credentials"]["token"]; !tok.error()) creds.session_token = std::string(std::string_view(tok));

            sigv4::Options opts = sigv4::Options::generic(std::string(std::string_view(ctx["region"])),
                                                          std::string(std::string_view(ctx["service"])));
            opts.normalize_path = bool(ctx["normalize"]);
            opts.content_sha256_header = bool(ctx["sign_body"]);
            if (auto omit = ctx["omit_session_token"]; !omit.error()) opts.sign_session_token = !bool(omit);
            const auto when = parse_time(std::string(std::string_view(ctx["timestamp"])));
            const auto expires = std::chrono::seconds(int64_t(ctx["expiration_in_seconds"]));

            ParsedRequest p = parse_http(slurp(dir / "request.txt"), Folding::continuation);

            SECTION("header") {
                auto s = sigv4::sign_headers(p.req, creds, opts, when);
                const std::string signed_req = slurp(dir / "header-signed-request.txt");
                CHECK(s.canonical_request == slurp(dir / "header-canonical-request.txt"));
                CHECK(s.string_to_sign == slurp(dir / "header-string-to-sign.txt"));
                CHECK(s.signature == trim(slurp(dir / "header-signature.txt")));
                CHECK(s.authorization == header_line(signed_req, "Authorization"));
                for (const auto& added : s.headers_to_add) CHECK(header_line(signed_req, added.name) == added.value);
            }
            SECTION("query") {
                auto s = sigv4::presign(p.req, creds, opts, when, expires);
                CHECK(s.canonical_request == slurp(dir / "query-canonical-request.txt"));
                CHECK(s.string_to_sign == slurp(dir / "query-string-to-sign.txt"));
                CHECK(s.signature == trim(slurp(dir / "query-signature.txt")));
                // Same parameters as the expected signed request (its order is not canonical).
                ParsedRequest expected = parse_http(slurp(dir / "query-signed-request.txt"), Folding::continuation);
                CHECK(sorted_pairs(s.query) == sorted_pairs(expected.req.query));
                CHECK(sorted_pairs(sigv4::parse_query(s.query_string)) == sorted_pairs(expected.req.query));
                CHECK(s.query_string.ends_with("&X-Amz-Signature=" + s.signature));
            }
        }
    }
    CHECK(cases == 38);
}

TEST_CASE("sigv4: Amazon S3 documentation examples", "[sigv4]") {
    simdjson::dom::parser parser;
    simdjson::dom::element doc = parser.load((data_dir() / "s3-examples.json").string());
    auto str = [](simdjson::dom::element e) { return std::string(std::string_view(e)); };
    sigv4::Credentials creds{str(doc["credentials"]["access_key_id"]), str(doc["credentials"]["secret_access_key"]), ""};
    const std::string region = str(doc["credentials"]["region"]);
    REQUIRE(str(doc["credentials"]["service"]) == "s3");
    const auto opts = sigv4::Options::s3(region);

    auto to_request = [&](simdjson::dom::element r) {
        sigv4::Request req;
        req.method = str(r["method"]);
        req.path = str(r["path"]);
        for (simdjson::dom::element pair : r["query"].get_array()) {
            simdjson::dom::array a = pair.get_array();
            req.query.push_back({str(a.at(0)), str(a.at(1))});
        }
        for (auto [k, v] : r["headers"].get_object()) req.headers.push_back({std::string(k), str(v)});
        req.payload_hash = str(r["payload_hash"]);
        return req;
    };

    int examples = 0;
    for (simdjson::dom::element ex : doc["examples"].get_array()) {
        ++examples;
        const std::string name = str(ex["name"]);
        DYNAMIC_SECTION(name) {
            sigv4::Request req = to_request(ex["request"]);
            const std::string amz = str(ex["amz_date"]);
            const auto when = parse_time(amz);
            if (auto text = ex["request"]["payload_text"]; !text.error())
                CHECK(sigv4::sha256_hex(std::string_view(text)) == req.payload_hash);

            // Every step from the structured request, all headers as given.
            const std::string creq = sigv4::canonical_request(req, opts);
            CHECK(creq == str(ex["canonical_request"]));
            const std::string sts = sigv4::string_to_sign(amz, sigv4::credential_scope(amz, opts), creq);
            CHECK(sts == str(ex["string_to_sign"]));
            auto key = sigv4::signing_key(creds.secret_access_key, amz.substr(0, 8), region, "s3");
            CHECK(sigv4::signature(key, sts) == str(ex["signature"]));

            if (auto authz = ex["authorization"]; !authz.error()) {
                // The whole header form: the signer adds x-amz-date and x-amz-content-sha256 itself.
                std::erase_if(req.headers, [](auto& h) {
                    return iequals(h.name, "x-amz-date") || iequals(h.name, "x-amz-content-sha256");
                });
                auto s = sigv4::sign_headers(req, creds, opts, when);
                CHECK(s.canonical_request == str(ex["canonical_request"]));
                CHECK(s.string_to_sign == str(ex["string_to_sign"]));
                // The S3 documentation writes the Authorization parameters separated by ","
                // where the SigV4 suites (and kache) write ", "; S3 accepts both.
                std::string expected = str(authz.value());
                for (std::string_view field : {",SignedHeaders=", ",Signature="}) {
                    auto at = expected.find(field);
                    REQUIRE(at != std::string::npos);
                    expected.insert(at + 1, " ");
                }
                CHECK(s.authorization == expected);
            }
            if (auto url = ex["presigned_url"]; !url.error()) {
                // The presigner adds the X-Amz-* parameters itself.
                std::erase_if(req.query, [](auto& q) { return q.name.starts_with("X-Amz-"); });
                auto s = sigv4::presign(req, creds, opts, when, std::chrono::seconds(86400));
                CHECK(s.canonical_request == str(ex["canonical_request"]));
                CHECK(s.string_to_sign == str(ex["string_to_sign"]));
                CHECK(s.signature == str(ex["signature"]));
                CHECK("https://examplebucket.s3.amazonaws.com" + sigv4::canonical_uri(req.path, opts) + "?" +
                          s.query_string == str(url.value()));
            }
        }
    }
    CHECK(examples == 5);

    SECTION("key derivation") {
        simdjson::dom::element kd = doc["key_derivation"];
        auto bytes = [](const std::string& s) {
            return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
        };
        const std::string seed = "AWS4" + str(kd["secret_access_key"]);
        auto k_date = sigv4::hmac_sha256(bytes(seed), str(kd["date"]));
        auto k_region = sigv4::hmac_sha256(k_date, str(kd["region"]));
        auto k_service = sigv4::hmac_sha256(k_region, str(kd["service"]));
        CHECK(sigv4::to_hex(k_date) == str(kd["kDate"]));
        CHECK(sigv4::to_hex(k_region) == str(kd["kRegion"]));
        CHECK(sigv4::to_hex(k_service) == str(kd["kService"]));
        auto k_signing = sigv4::signing_key(str(kd["secret_access_key"]), str(kd["date"]), str(kd["region"]),
                                            str(kd["service"]));
        CHECK(sigv4::to_hex(k_signing) == str(kd["kSigning"]));
    }

    SECTION("chunked upload") {
        simdjson::dom::element ch = doc["chunked_upload"];
        sigv4::Request req = to_request(ch["request"]);
        const std::string amz = str(ch["amz_date"]);
        const std::string creq = sigv4::canonical_request(req, opts);
        CHECK(creq == str(ch["canonical_request"]));
        const std::string scope = sigv4::credential_scope(amz, opts);
        auto key = sigv4::signing_key(creds.secret_access_key, amz.substr(0, 8), region, "s3");
        const std::string seed = sigv4::signature(key, sigv4::string_to_sign(amz, scope, creq));
        CHECK(seed == str(ch["seed_signature"]));
        std::string previous = seed;
        int chunks = 0;
        for (simdjson::dom::element c : ch["chunks"].get_array()) {
            ++chunks;
            const auto size = static_cast<std::size_t>(int64_t(c["size"]));
            const std::string data(size, str(c["byte"])[0]);
            std::string sig = sigv4::chunk_signature(key, amz, scope, previous, data);
            CHECK(sig == str(c["signature"]));
            previous = str(c["signature"]);
        }
        CHECK(chunks == 3);
    }
}

TEST_CASE("sigv4: a wrong secret changes the signature", "[sigv4]") {
    // Guards against a signer that ignores its key: the vectors above would still not pass
    // with a constant output, but this says what broke.
    sigv4::Request req{"GET", "/", {}, {{"host", "example.amazonaws.com"}}, sigv4::sha256_hex("")};
    auto when = utc(2015, 8, 30, 12, 36, 0);
    auto opts = sigv4::Options::generic("us-east-1", "service");
    auto good = sigv4::sign_headers(req, k_suite_creds, opts, when);
    auto bad_creds = k_suite_creds;
    bad_creds.secret_access_key.back() = 'X';
    auto bad = sigv4::sign_headers(req, bad_creds, opts, when);
    CHECK(good.canonical_request == bad.canonical_request);
    CHECK(good.signature != bad.signature);
}
