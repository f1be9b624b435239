// lib/remote/credential_reply.hpp — the JSON a container credential endpoint or the EC2
// instance metadata service answers with, parsed as untrusted input (private to
// libkache_remote; the fuzz target tests/fuzz/fuzz_credential_reply.cpp drives it).
#pragma once

#include <kache/error.hpp>
#include <kache/remote/credentials.hpp>

#include <chrono>
#include <string>
#include <string_view>

namespace kache::remote::detail {

// Which service answered: the instance metadata service adds "Code": "Success".
enum class ReplyShape { container, instance };

// A field longer than this is refused (a session token is about 1-2 KiB today).
inline constexpr std::size_t k_max_credential_field = 16 * 1024;

// Credentials from a reply {AccessKeyId, SecretAccessKey, Token, Expiration[, Code]}: every
// field present, printable ASCII without spaces (they go into signed headers), bounded, and
// the expiration a valid UTC time. ErrorKind::invalid_input for anything else; the message
// names the field, never its value.
Result<Credentials> parse_credential_reply(std::string_view body, ReplyShape shape, std::string source);

} // namespace kache::remote::detail
