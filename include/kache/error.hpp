// kache/error.hpp — errors as values across module boundaries.
//
//   kache::Result<int> parse(std::string_view s);
//   if (auto r = parse("x"); !r) std::cerr << r.error().message << "\n";
//
// Every fallible public function returns Result<T>. The kind lets a caller
// decide what to do (retry, fall back, report) without parsing the message;
// the message is one line a person can act on.
#pragma once

#include <expected>
#include <string>
#include <utility>

namespace kache {

enum class ErrorKind {
    io,            // a local file operation failed (permissions, disk full, ...)
    corrupt,       // stored data failed validation (bad hash, bad format)
    not_found,     // the thing asked for does not exist
    invalid_input, // untrusted or user input was malformed
    unsupported,   // a case kache deliberately does not handle (caller passes through)
    config,        // the configuration is invalid
    timeout,       // a deadline passed; retrying may help
    network,       // a transient network failure; retrying may help
    throttled,     // the remote asked us to slow down; retrying later helps
    server,        // the remote failed (5xx); retrying may help
    denied,        // credentials or permissions refused; retrying will not help
    conflict,      // the object exists already (a conditional write lost)
    internal,      // a bug or an unexpected state
};

// Returns a short stable name for the kind ("io", "timeout", ...).
const char* to_string(ErrorKind kind) noexcept;

// True for kinds where the same call may succeed if tried again later.
constexpr bool is_retryable(ErrorKind kind) noexcept {
    return kind == ErrorKind::timeout || kind == ErrorKind::network ||
           kind == ErrorKind::throttled || kind == ErrorKind::server;
}

struct Error {
    ErrorKind kind = ErrorKind::internal;
    std::string message;

    bool retryable() const noexcept { return is_retryable(kind); }
};

template <class T>
using Result = std::expected<T, Error>;

// Convenience for `return fail(ErrorKind::io, "cannot open " + p);`
inline std::unexpected<Error> fail(ErrorKind kind, std::string message) {
    return std::unexpected(Error{kind, std::move(message)});
}

// Result<void> success value: `return ok();`
inline Result<void> ok() { return {}; }

} // namespace kache
