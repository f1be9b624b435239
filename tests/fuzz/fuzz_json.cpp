// util::parse_flat_json (IPC frames, event lines) on any bytes.
#include <kache/util/json.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto obj = util::parse_flat_json(text);
    if (!obj) return 0;
    // Every string value written back as JSON reads back the same.
    for (auto& [key, value] : *obj) {
        std::string one = "{";
        util::append_json_string(one, key);
        one += ":";
        if (value.kind == util::JsonScalar::Kind::string) util::append_json_string(one, value.text);
        else if (value.kind == util::JsonScalar::Kind::null) one += "null";
        else one += value.text;
        one += "}";
        auto back = util::parse_flat_json(one);
        if (!back || back->size() != 1 || back->begin()->first != key || back->begin()->second.text != value.text)
            fuzz::violated("a JSON field changes across a round trip");
    }
    return 0;
}
