#include <kache/error.hpp>

namespace kache {

const char* to_string(ErrorKind kind) noexcept {
    switch (kind) {
    case ErrorKind::io: return "io";
    case ErrorKind::corrupt: return "corrupt";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::invalid_input: return "invalid_input";
    case ErrorKind::unsupported: return "unsupported";
    case ErrorKind::config: return "config";
    case ErrorKind::timeout: return "timeout";
    case ErrorKind::network: return "network";
    case ErrorKind::throttled: return "throttled";
    case ErrorKind::server: return "server";
    case ErrorKind::denied: return "denied";
    case ErrorKind::conflict: return "conflict";
    case ErrorKind::internal: return "internal";
    }
    return "internal";
}

} // namespace kache
