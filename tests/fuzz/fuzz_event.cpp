// events::from_json (a line of the event log, which `report` and `monitor` read back
// as untrusted) on any bytes, one event a line; what parses goes through the report
// in every format. Never a crash, an overflow or a negative duration.
#include <kache/events.hpp>
#include <kache/events/report.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<events::Event> events;
    while (!text.empty()) {
        auto nl = text.find('\n');
        if (auto e = events::from_json(text.substr(0, nl))) {
            if (e->duration_us() < 0) fuzz::violated("a negative duration");
            events.push_back(std::move(*e));
        }
        if (nl == std::string_view::npos) break;
        text.remove_prefix(nl + 1);
    }
    auto report = events::build_report(events);
    for (auto f : {events::Format::text, events::Format::json, events::Format::markdown, events::Format::github,
                   events::Format::trace})
        (void)events::render(report, f, 5);
    return 0;
}
