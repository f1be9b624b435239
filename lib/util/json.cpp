#include <kache/util/json.hpp>

#include <cctype>
#include <charconv>
#include <cstdio>

namespace kache::util {

namespace {

struct Parser {
    std::string_view s;
    size_t i = 0;

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool eat(char c) {
        ws();
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) out.push_back(static_cast<char>(cp));
        else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xC0 | cp >> 6));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xE0 | cp >> 12));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        } else {
            out.push_back(static_cast<char>(0xF0 | cp >> 18));
            out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3F)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
        }
    }
    bool hex4(unsigned& v) {
        if (i + 4 > s.size()) return false;
        auto [p, ec] = std::from_chars(s.data() + i, s.data() + i + 4, v, 16);
        if (ec != std::errc() || p != s.data() + i + 4) return false;
        i += 4;
        return true;
    }
    // A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)? (no exponent: the protocol has none).
    bool number() {
        auto digit = [&] { return i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); };
        if (i < s.size() && s[i] == '-') ++i;
        if (!digit()) return false;
        if (s[i] == '0') ++i;
        else
            while (digit()) ++i;
        if (i < s.size() && s[i] == '.') {
            ++i;
            if (!digit()) return false;
            while (digit()) ++i;
        }
        return true;
    }
    bool string(std::string& out) {
        if (!eat('"')) return false;
        while (i < s.size()) {
            char c = s[i++];
            if (c == '"') return true;
            if (static_cast<unsigned char>(c) < 0x20) return false;
            if (c != '\\') {
                out.push_back(c);
                continue;
            }
            if (i >= s.size()) return false;
            char e = s[i++];
            switch (e) {
            case '"': out.push_back('"'); break;
            case '\\': out.push_back('\\'); break;
            case '/': out.push_back('/'); break;
            case 'b': out.push_back('\b'); break;
            case 'f': out.push_back('\f'); break;
            case 'n': out.push_back('\n'); break;
            case 'r': out.push_back('\r'); break;
            case 't': out.push_back('\t'); break;
            case 'u': {
                unsigned v = 0;
                if (!hex4(v)) return false;
                if (v >= 0xDC00 && v <= 0xDFFF) return false; // a low surrogate alone
                if (v >= 0xD800 && v <= 0xDBFF) {             // a high one needs its low one
                    unsigned lo = 0;
                    if (i + 2 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return false;
                    i += 2;
                    if (!hex4(lo) || lo < 0xDC00 || lo > 0xDFFF) return false;
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                }
                put_utf8(out, v);
                break;
            }
            default: return false;
            }
        }
        return false;
    }
};

} // namespace

Result<std::map<std::string, JsonScalar>> parse_flat_json(std::string_view json) {
    auto bad = [&](const char* why) {
        return fail(ErrorKind::invalid_input, std::string("malformed JSON object: ") + why);
    };
    Parser p{json};
    std::map<std::string, JsonScalar> out;
    if (!p.eat('{')) return bad("expected '{'");
    if (!p.eat('}')) {
        while (true) {
            std::string key;
            p.ws();
            if (!p.string(key)) return bad("expected a key");
            if (!p.eat(':')) return bad("expected ':'");
            p.ws();
            JsonScalar v;
            if (p.i < json.size() && json[p.i] == '"') {
                v.kind = JsonScalar::Kind::string;
                if (!p.string(v.text)) return bad("bad string");
            } else if (json.substr(p.i).starts_with("true") || json.substr(p.i).starts_with("false")) {
                v.kind = JsonScalar::Kind::boolean;
                v.text = json[p.i] == 't' ? "true" : "false";
                p.i += v.text.size();
            } else if (json.substr(p.i).starts_with("null")) {
                p.i += 4;
            } else {
                size_t start = p.i;
                if (!p.number()) return bad("unsupported value (only strings, numbers, booleans)");
                v.kind = JsonScalar::Kind::number;
                v.text = std::string(json.substr(start, p.i - start));
            }
            out[std::move(key)] = std::move(v);
            if (p.eat('}')) break;
            if (!p.eat(',')) return bad("expected ',' or '}'");
        }
    }
    p.ws();
    if (p.i != json.size()) return bad("trailing characters");
    return out;
}

std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out.push_back(static_cast<char>(c));
    }
    return out;
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    out += json_escape(s);
    out.push_back('"');
}

} // namespace kache::util
