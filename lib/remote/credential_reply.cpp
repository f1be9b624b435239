#include "credential_reply.hpp"

#include <kache/remote/credentials.hpp>
#include <kache/util/json.hpp>

namespace kache::remote::detail {

namespace {

Error bad_reply(const std::string& source, const std::string& why) {
    return Error{ErrorKind::invalid_input, source + " answered with malformed credentials: " + why};
}

// Printable ASCII, no space: a credential is written into an HTTP header as it is.
bool header_safe(std::string_view s) {
    for (unsigned char c : s)
        if (c <= 0x20 || c >= 0x7f) return false;
    return true;
}

} // namespace

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
    auto exp = parse_iso8601(*exp_text);
    if (!exp) return std::unexpected(bad_reply(source, "\"Expiration\" is " + exp.error().message));
    c.access_key = std::move(*ak);
    c.secret_key = std::move(*sk);
    c.session_token = std::move(*token);
    c.expiration = *exp;
    c.source = std::move(source);
    return c;
}

} // namespace kache::remote::detail
