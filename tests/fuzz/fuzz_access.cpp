// remote::parse_access_key and parse_access_body on any bytes: the first line is
// an access object's key, the rest its body. A key that parses is written back
// the same by access_key; a body that parses survives access_body and a second
// parse unchanged; a body that does not is corrupt (the only kind it returns).
#include <kache/remote/access_log.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto nl = text.find('\n');
    std::string_view key = text.substr(0, nl);
    std::string_view body = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);

    if (auto k = remote::parse_access_key(key)) {
        if (remote::access_key(k->day, k->machine) != key) fuzz::violated("an access key does not write back the same");
        if (k->day < 0) fuzz::violated("an access key with a day before 1970");
    }

    auto used = remote::parse_access_body(body);
    if (!used) {
        if (used.error().kind != ErrorKind::corrupt) fuzz::violated("an access body error that is not corrupt");
        return 0;
    }
    if (used->size() > remote::k_max_access_entries) fuzz::violated("an access body over the entry cap");
    std::string again = remote::access_body(*used);
    auto back = remote::parse_access_body(again);
    if (!back) fuzz::violated("a written access body does not parse");
    if (*back != *used) fuzz::violated("an access body changes across a round trip");
    if (remote::access_body(*back) != again) fuzz::violated("an access body is not written the same twice");
    return 0;
}
