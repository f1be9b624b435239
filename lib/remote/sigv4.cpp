#include <kache/remote/sigv4.hpp>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <new>
#include <utility>

namespace kache::remote::sigv4 {

namespace {

constexpr std::string_view k_algorithm = "AWS4-HMAC-SHA256";

bool is_unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Trims and collapses every run of whitespace (folded lines included) to one space.
std::string canonical_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    bool pending_space = false;
    for (char c : v) {
        if (is_space(c)) {
            pending_space = !out.empty();
            continue;
        }
        if (pending_space) out.push_back(' ');
        pending_space = false;
        out.push_back(c);
    }
    return out;
}

// Removes "." and ".." segments and empty segments; a trailing '/' survives when the
// normalised path still has a segment (the generic suite's rule: "/a/.." is "/").
std::string remove_dot_segments(std::string_view path) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i <= path.size()) {
        std::size_t j = path.find('/', i);
        if (j == std::string_view::npos) j = path.size();
        std::string_view seg = path.substr(i, j - i);
        if (seg == "..") {
            if (!out.empty()) out.pop_back();
        } else if (!seg.empty() && seg != ".") {
            out.push_back(seg);
        }
        i = j + 1;
    }
    std::string result = "/";
    for (std::size_t k = 0; k < out.size(); ++k) {
        if (k) result.push_back('/');
        result.append(out[k]);
    }
    if (!out.empty() && !path.empty() && path.back() == '/') result.push_back('/');
    return result;
}

std::string date_of(std::string_view amz_date) { return std::string(amz_date.substr(0, 8)); }

} // namespace

// ---- options ------------------------------------------------------------------------------

Options Options::s3(std::string region) {
    Options o;
    o.region = std::move(region);
    o.service = "s3";
    o.normalize_path = false;
    o.double_encode_path = false;
    o.content_sha256_header = true;
    return o;
}

Options Options::generic(std::string region, std::string service) {
    Options o;
    o.region = std::move(region);
    o.service = std::move(service);
    o.normalize_path = true;
    o.double_encode_path = true;
    return o;
}

// ---- hashing ------------------------------------------------------------------------------

struct Sha256::State {
    EVP_MD_CTX* ctx = nullptr;
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
    state_->ctx = EVP_MD_CTX_new();
    if (!state_->ctx || EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr) != 1) throw std::bad_alloc();
}

Sha256::~Sha256() {
    if (state_ && state_->ctx) EVP_MD_CTX_free(state_->ctx);
}

void Sha256::update(std::string_view data) {
    EVP_DigestUpdate(state_->ctx, data.data(), data.size());
}

std::string Sha256::finish_hex() {
    Digest d{};
    unsigned int len = 0;
    EVP_DigestFinal_ex(state_->ctx, d.data(), &len);
    return to_hex(d);
}

std::string sha256_hex(std::string_view data) {
    Digest d{};
    unsigned int len = 0;
    EVP_Digest(data.data(), data.size(), d.data(), &len, EVP_sha256(), nullptr);
    return to_hex(d);
}

Digest hmac_sha256(std::span<const std::uint8_t> key, std::string_view data) {
    Digest d{};
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), d.data(), &len);
    return d;
}

std::string to_hex(std::span<const std::uint8_t> bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (std::uint8_t b : bytes) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

// ---- encoding -----------------------------------------------------------------------------

std::string uri_encode(std::string_view s, bool keep_slash) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3 / 2);
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(digits[c >> 4]);
            out.push_back(digits[c & 0xf]);
        }
    }
    return out;
}

std::string uri_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                continue;
            }
        }
        out.push_back(s[i]);
    }
    return out;
}

std::vector<QueryParam> parse_query(std::string_view raw) {
    std::vector<QueryParam> out;
    std::size_t i = 0;
    while (i <= raw.size()) {
        std::size_t j = raw.find('&', i);
        if (j == std::string_view::npos) j = raw.size();
        std::string_view part = raw.substr(i, j - i);
        if (!part.empty()) {
            std::size_t eq = part.find('=');
            if (eq == std::string_view::npos)
                out.push_back({uri_decode(part), ""});
            else
                out.push_back({uri_decode(part.substr(0, eq)), uri_decode(part.substr(eq + 1))});
        }
        i = j + 1;
    }
    return out;
}

// ---- canonical request --------------------------------------------------------------------

std::string canonical_uri(std::string_view path, const Options& opts) {
    // Without double encoding the path is decoded first so that it ends up encoded exactly
    // once, whatever mix of encoded and raw characters the caller wrote.
    std::string p = opts.double_encode_path ? std::string(path) : uri_decode(path);
    if (p.empty() || p.front() != '/') p.insert(p.begin(), '/');
    if (opts.normalize_path) p = remove_dot_segments(p);
    return uri_encode(p, true);
}

std::string canonical_query(const std::vector<QueryParam>& query) {
    std::vector<std::pair<std::string, std::string>> enc;
    enc.reserve(query.size());
    for (const auto& q : query) enc.emplace_back(uri_encode(q.name, false), uri_encode(q.value, false));
    // Sorted by encoded name, then encoded value: byte order, as the spec requires.
    std::sort(enc.begin(), enc.end());
    std::string out;
    for (const auto& [k, v] : enc) {
        if (!out.empty()) out.push_back('&');
        out += k;
        out.push_back('=');
        out += v;
    }
    return out;
}

CanonicalHeaders canonical_headers(const std::vector<Header>& headers) {
    std::map<std::string, std::string> merged; // sorted by lowercase name
    for (const auto& h : headers) {
        std::string name = lowercase(canonical_value(h.name));
        std::string value = canonical_value(h.value);
        auto [it, inserted] = merged.try_emplace(name, value);
        if (!inserted) {
            it->second.push_back(',');
            it->second += value;
        }
    }
    CanonicalHeaders out;
    for (const auto& [name, value] : merged) {
        out.block += name;
        out.block.push_back(':');
        out.block += value;
        out.block.push_back('\n');
        if (!out.signed_list.empty()) out.signed_list.push_back(';');
        out.signed_list += name;
    }
    return out;
}

std::string canonical_request(const Request& req, const Options& opts) {
    CanonicalHeaders h = canonical_headers(req.headers);
    std::string out;
    out.reserve(256 + h.block.size());
    out += req.method;
    out.push_back('\n');
    out += canonical_uri(req.path, opts);
    out.push_back('\n');
    out += canonical_query(req.query);
    out.push_back('\n');
    out += h.block;
    out.push_back('\n');
    out += h.signed_list;
    out.push_back('\n');
    out += req.payload_hash;
    return out;
}

std::string amz_date(std::chrono::system_clock::time_point when) {
    std::time_t t = std::chrono::system_clock::to_time_t(when);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string credential_scope(std::string_view amz_date, const Options& opts) {
    return date_of(amz_date) + "/" + opts.region + "/" + opts.service + "/aws4_request";
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request) {
    std::string out(k_algorithm);
    out.push_back('\n');
    out += amz_date;
    out.push_back('\n');
    out += scope;
    out.push_back('\n');
    out += sha256_hex(canonical_request);
    return out;
}

Digest signing_key(std::string_view secret_access_key, std::string_view date, std::string_view region,
                   std::string_view service) {
    std::string seed = "AWS4";
    seed += secret_access_key;
    auto as_bytes = [](const std::string& s) {
        return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
    };
    Digest k = hmac_sha256(as_bytes(seed), date);
    // The seed holds the secret: do not leave it behind in freed memory.
    OPENSSL_cleanse(seed.data(), seed.size());
    k = hmac_sha256(k, region);
    k = hmac_sha256(k, service);
    return hmac_sha256(k, "aws4_request");
}

std::string signature(const Digest& key, std::string_view string_to_sign) {
    return to_hex(hmac_sha256(key, string_to_sign));
}

std::string chunk_signature(const Digest& key, std::string_view amz_date, std::string_view scope,
                            std::string_view previous_signature, std::string_view chunk) {
    std::string sts = "AWS4-HMAC-SHA256-PAYLOAD\n";
    sts += amz_date;
    sts.push_back('\n');
    sts += scope;
    sts.push_back('\n');
    sts += previous_signature;
    sts.push_back('\n');
    sts += sha256_hex("");
    sts.push_back('\n');
    sts += sha256_hex(chunk);
    return signature(key, sts);
}

// ---- signing ------------------------------------------------------------------------------

SignedHeaders sign_headers(const Request& req, const Credentials& creds, const Options& opts,
                           std::chrono::system_clock::time_point when) {
    const std::string date = amz_date(when);
    const std::string scope = credential_scope(date, opts);

    SignedHeaders out;
    out.headers_to_add.push_back({"X-Amz-Date", date});
    if (opts.content_sha256_header) out.headers_to_add.push_back({"x-amz-content-sha256", req.payload_hash});
    if (!creds.session_token.empty() && opts.sign_session_token)
        out.headers_to_add.push_back({"X-Amz-Security-Token", creds.session_token});

    Request full = req;
    full.headers.insert(full.headers.end(), out.headers_to_add.begin(), out.headers_to_add.end());
    CanonicalHeaders h = canonical_headers(full.headers);

    out.canonical_request = canonical_request(full, opts);
    out.string_to_sign = string_to_sign(date, scope, out.canonical_request);
    out.signature = signature(signing_key(creds.secret_access_key, date_of(date), opts.region, opts.service),
                              out.string_to_sign);
    out.authorization = std::string(k_algorithm) + " Credential=" + creds.access_key_id + "/" + scope +
                        ", SignedHeaders=" + h.signed_list + ", Signature=" + out.signature;

    if (!creds.session_token.empty() && !opts.sign_session_token)
        out.headers_to_add.push_back({"X-Amz-Security-Token", creds.session_token});
    out.headers_to_add.push_back({"Authorization", out.authorization});
    return out;
}

Presigned presign(const Request& req, const Credentials& creds, const Options& opts,
                  std::chrono::system_clock::time_point when, std::chrono::seconds expires) {
    const std::string date = amz_date(when);
    const std::string scope = credential_scope(date, opts);
    CanonicalHeaders h = canonical_headers(req.headers);

    Presigned out;
    out.query = req.query;
    out.query.push_back({"X-Amz-Algorithm", std::string(k_algorithm)});
    out.query.push_back({"X-Amz-Credential", creds.access_key_id + "/" + scope});
    out.query.push_back({"X-Amz-Date", date});
    out.query.push_back({"X-Amz-Expires", std::to_string(expires.count())});
    out.query.push_back({"X-Amz-SignedHeaders", h.signed_list});
    if (!creds.session_token.empty() && opts.sign_session_token)
        out.query.push_back({"X-Amz-Security-Token", creds.session_token});

    Request full = req;
    full.query = out.query;
    out.canonical_request = canonical_request(full, opts);
    out.string_to_sign = string_to_sign(date, scope, out.canonical_request);
    out.signature = signature(signing_key(creds.secret_access_key, date_of(date), opts.region, opts.service),
                              out.string_to_sign);

    // The signed parameters in canonical order, then what the signature does not cover.
    out.query_string = canonical_query(out.query);
    if (!creds.session_token.empty() && !opts.sign_session_token) {
        out.query.push_back({"X-Amz-Security-Token", creds.session_token});
        out.query_string += "&X-Amz-Security-Token=" + uri_encode(creds.session_token, false);
    }
    out.query.push_back({"X-Amz-Signature", out.signature});
    out.query_string += "&X-Amz-Signature=" + out.signature;
    return out;
}

} // namespace kache::remote::sigv4
