// kache/util/json.hpp — the small JSON the core library writes and reads
// itself: flat objects of strings, integers and booleans (event lines, IPC
// frames). Anything nested is rejected; the daemon uses simdjson for the rest.
#pragma once

#include <kache/error.hpp>

#include <map>
#include <string>
#include <string_view>

namespace kache::util {

struct JsonScalar {
    enum class Kind { string, number, boolean, null } kind = Kind::null;
    std::string text; // the unescaped string, the number's digits, "true"/"false"
};

// Parses one flat JSON object. ErrorKind::invalid_input for anything else.
Result<std::map<std::string, JsonScalar>> parse_flat_json(std::string_view json);

// Appends s as a JSON string literal (quotes and escapes included).
void append_json_string(std::string& out, std::string_view s);

// s escaped for use inside a JSON string literal, without the quotes.
std::string json_escape(std::string_view s);

} // namespace kache::util
