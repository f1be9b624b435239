#include "credential_reply.hpp"

#include <kache/util/json.hpp>

#include <charconv>

namespace kache::remote::detail {

namespace {

// The years a credential's expiration may name.
constexpr int k_min_year = 1970;
constexpr int k_max_year = 2200;

Error bad_reply(const std::string& source, const std::string& why) {
    return Error{ErrorKind::invalid_input, source + " answered with malformed credentials: " + why};
}

// Printable ASCII, no space: a credential is written into an HTTP header as it is.
bool header_safe(std::string_view s) {
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

// Reads exactly n digits at text[pos]; advances pos.
bool digits(std::string_view text, std::size_t& pos, std::size_t n, int& out) {
    if (pos + n > text.size()) return false;
    out = 0;
    for (std::size_t i = 0; i < n; ++i) {
        char c = text[pos + i];
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    pos += n;
    return true;
}

bool eat(std::string_view text, std::size_t& pos, char c) {
    if (pos >= text.size() || text[pos] != c) return false;
    ++pos;
    return true;
}

} // namespace

Result<std::chrono::system_clock::time_point> parse_utc_time(std::string_view text) {
    auto bad = [&] { return fail(ErrorKind::invalid_input, "not an RFC 3339 UTC time"); };
    std::size_t pos = 0;
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
    if (!digits(text, pos, 4, y) || !eat(text, pos, '-') || !digits(text, pos, 2, mo) || !eat(text, pos, '-') ||
        !digits(text, pos, 2, d))
        return bad();
    if (!eat(text, pos, 'T') && !eat(text, pos, 't') && !eat(text, pos, ' ')) return bad();
    if (!digits(text, pos, 2, h) || !eat(text, pos, ':') || !digits(text, pos, 2, mi) || !eat(text, pos, ':') ||
        !digits(text, pos, 2, s))
        return bad();
    if (eat(text, pos, '.')) { // fractional seconds: dropped (credentials are refreshed minutes early)
        std::size_t start = pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && pos - start < 9) ++pos;
        if (pos == start) return bad();
    }
    std::string_view zone = text.substr(pos);
    if (zone != "Z" && zone != "z" && zone != "+00:00") return bad();
    std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                    std::chrono::day{static_cast<unsigned>(d)}};
    // system_clock counts nanoseconds in 64 bits: years past 2262 would overflow it.
    if (!ymd.ok() || y < k_min_year || y > k_max_year || h > 23 || mi > 59 || s > 60) return bad();
    return std::chrono::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s};
}

Result<Credentials> parse_credential_reply(std::string_view body, ReplyShape shape, std::string source) {
    if (body.size() > k_max_credential_reply)
        return std::unexpected(bad_reply(source, "the reply is over " + std::to_string(k_max_credential_reply) + " bytes"));
    auto obj = util::parse_flat_json(body);
    if (!obj) return std::unexpected(bad_reply(source, obj.error().message));

    auto field = [&](const char* name) -> Result<std::string> {
        auto it = obj->find(name);
        if (it == obj->end() || it->second.kind != util::JsonScalar::Kind::string)
            return std::unexpected(bad_reply(source, std::string("no string field \"") + name + "\""));
        const std::string& v = it->second.text;
        if (v.empty() || v.size() > k_max_credential_field || !header_safe(v))
            return std::unexpected(bad_reply(source, std::string("field \"") + name +
                                                         "\" is empty, too long or not printable ASCII"));
        return v;
    };

    if (shape == ReplyShape::instance) {
        auto code = obj->find("Code");
        if (code == obj->end() || code->second.text != "Success") {
            std::string what = code == obj->end() ? "no \"Code\"" : "\"Code\" is not \"Success\"";
            // The code is a short word the service chose; it is shown when it is one.
            if (code != obj->end() && code->second.text.size() <= 64 && header_safe(code->second.text))
                what = "\"Code\" is \"" + code->second.text + "\"";
            return std::unexpected(Error{ErrorKind::denied, source + " refused credentials: " + what});
        }
    }
    Credentials c;
    auto ak = field("AccessKeyId");
    if (!ak) return std::unexpected(ak.error());
    auto sk = field("SecretAccessKey");
    if (!sk) return std::unexpected(sk.error());
    auto token = field("Token");
    if (!token) return std::unexpected(token.error());
    auto exp_text = field("Expiration");
    if (!exp_text) return std::unexpected(exp_text.error());
    auto exp = parse_utc_time(*exp_text);
    if (!exp) return std::unexpected(bad_reply(source, "\"Expiration\" is " + exp.error().message));
    c.access_key = std::move(*ak);
    c.secret_key = std::move(*sk);
    c.session_token = std::move(*token);
    c.expiration = *exp;
    c.source = std::move(source);
    return c;
}

} // namespace kache::remote::detail
