#include "object_key.hpp"

namespace kache::remote::detail {

namespace {

Result<void> check_bytes(std::string_view what, std::string_view s) {
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c == 0x7f || c == '\\')
            return fail(ErrorKind::invalid_input, "invalid object " + std::string(what) + " '" + std::string(s) +
                                                      "': control characters and '\\' are not allowed");
    }
    return ok();
}

Result<void> check_component(std::string_view what, std::string_view whole, std::string_view comp) {
    if (comp.empty() || comp == "." || comp == "..")
        return fail(ErrorKind::invalid_input, "invalid object " + std::string(what) + " '" + std::string(whole) +
                                                  "': empty, '.' and '..' components are not allowed");
    return ok();
}

} // namespace

Result<void> validate_key(std::string_view key) {
    if (key.empty()) return fail(ErrorKind::invalid_input, "invalid object key: it is empty");
    if (key.size() > k_max_key_bytes)
        return fail(ErrorKind::invalid_input, "invalid object key: longer than " + std::to_string(k_max_key_bytes) +
                                                  " bytes");
    if (key.front() == '/')
        return fail(ErrorKind::invalid_input, "invalid object key '" + std::string(key) + "': it must be relative");
    if (auto r = check_bytes("key", key); !r) return r;
    std::size_t i = 0;
    while (true) {
        std::size_t j = key.find('/', i);
        if (auto r = check_component("key", key, key.substr(i, j == std::string_view::npos ? j : j - i)); !r) return r;
        if (j == std::string_view::npos) break;
        i = j + 1;
    }
    return ok();
}

Result<void> validate_prefix(std::string_view prefix) {
    if (prefix.empty()) return ok();
    if (prefix.size() > k_max_key_bytes)
        return fail(ErrorKind::invalid_input, "invalid object prefix: longer than " +
                                                  std::to_string(k_max_key_bytes) + " bytes");
    if (prefix.front() == '/')
        return fail(ErrorKind::invalid_input, "invalid object prefix '" + std::string(prefix) + "': it must be relative");
    if (auto r = check_bytes("prefix", prefix); !r) return r;
    // Every component followed by '/' is complete and must be valid; the tail may be partial
    // (".fo" is a fine prefix of ".foo").
    std::size_t i = 0;
    for (std::size_t j = prefix.find('/'); j != std::string_view::npos; j = prefix.find('/', i)) {
        if (auto r = check_component("prefix", prefix, prefix.substr(i, j - i)); !r) return r;
        i = j + 1;
    }
    if (prefix.substr(i) == "..")
        return fail(ErrorKind::invalid_input, "invalid object prefix '" + std::string(prefix) + "': '..' is not allowed");
    return ok();
}

Result<std::string> normalize_root_prefix(std::string_view prefix) {
    while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
    while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
    if (prefix.empty()) return std::string();
    if (auto r = validate_key(prefix); !r) return std::unexpected(r.error());
    return std::string(prefix);
}

std::string join_key(std::string_view prefix, std::string_view key) {
    if (prefix.empty()) return std::string(key);
    std::string out(prefix);
    out.push_back('/');
    out += key;
    return out;
}

} // namespace kache::remote::detail
