// The daemon's side of the IPC protocol on any byte stream: the frame decoder
// (fed in chunks the input chooses), then each payload as a message, a request
// and every reply shape.
#include <kache/ipc.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    // The first byte picks the chunk size, so frames split across reads are covered.
    std::size_t chunk = 1 + data[0] % 64;
    std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
    ipc::FrameDecoder decoder;
    for (std::size_t pos = 0; pos < stream.size(); pos += chunk) {
        decoder.feed(stream.substr(pos, chunk));
        while (true) {
            auto frame = decoder.next();
            if (!frame) return 0; // oversized: the connection is closed
            if (!*frame) break;
            auto m = ipc::Message::parse(**frame);
            if (!m) continue;
            (void)m->to_json();
            (void)ipc::Request::from(*m);
            (void)ipc::Ack::from(*m);
            (void)ipc::PingReply::from(*m);
            (void)ipc::CheckReply::from(*m);
            (void)ipc::StatusReply::from(*m);
            auto again = ipc::Message::parse(m->to_json());
            if (!again || again->raw() != m->raw()) fuzz::violated("a message changes across a round trip");
        }
    }
    return 0;
}
