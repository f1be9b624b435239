// kache/ipc.hpp — the wire protocol between the wrapper/CLI and kached.
//
// A frame is a 4-byte little-endian length followed by that many bytes of one
// JSON object, at most k_max_frame bytes. Every request carries "v" (protocol
// version) and "type"; every reply carries "ok" and, on failure, "error".
//
//   auto c = kache::ipc::Client::connect(socket, 50ms);    // fails fast if no daemon
//   auto reply = c->call(kache::ipc::Request::check(k1, "serde", "1.0.152"), 3s);
//
// The client is plain sockets (core library: the wrapper must not load libuv);
// the server (libkache_daemon) is libuv and parses frames with simdjson.
#pragma once

#include <kache/error.hpp>
#include <kache/util/fs.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace kache::ipc {

inline constexpr int k_protocol_version = 1;
inline constexpr std::uint32_t k_max_frame = 1 << 20;
// sockaddr_un's sun_path holds 108 bytes including the terminating NUL.
inline constexpr std::size_t k_max_socket_path = 107;

// A flat JSON object of string, integer and boolean fields: all the protocol needs.
class Message {
public:
    Message() = default;
    Message& set(const std::string& key, std::string value);
    Message& set(const std::string& key, std::int64_t value);
    Message& set_bool(const std::string& key, bool value);

    std::optional<std::string> str(const std::string& key) const;
    std::optional<std::int64_t> num(const std::string& key) const;
    bool flag(const std::string& key) const; // true only for a JSON true

    // Serializes to one JSON object.
    std::string to_json() const;
    // Parses a flat JSON object (strings, integers, booleans). ErrorKind::invalid_input otherwise.
    static Result<Message> parse(std::string_view json);

    const std::map<std::string, std::string>& raw() const { return fields_; }

private:
    // Each value is kept as its JSON text: "\"s\"", "12", "true".
    std::map<std::string, std::string> fields_;
};

// Request constructors, so the wire names live in one place.
struct Request {
    static Message ping();
    // The wrapper recorded K2 and wrote an upload intent: upload it soon.
    static Message upload(std::string_view k2_hex);
    // Look for K1 on the remote and import what is there before answering.
    static Message check(std::string_view k1_hex, std::string_view crate, std::string_view version);
    // A build session started in this directory: prefetch its dependency graph.
    static Message session(std::string_view root);
    static Message status();
    static Message stop();
};

// Encodes one frame: length prefix + payload.
std::string encode_frame(std::string_view payload);

// The socket path for a cache directory, honouring KACHE_SOCKET_PATH; an error
// naming the fix if it is relative or too long for a Unix socket.
Result<std::filesystem::path> socket_path(const std::filesystem::path& configured);

// A blocking client connection with deadlines.
class Client {
public:
    // Connects to the daemon's socket. Fails fast (ErrorKind::not_found or
    // network) when no daemon listens: no retry, no wait beyond timeout.
    static Result<Client> connect(const std::filesystem::path& socket, std::chrono::milliseconds timeout);

    // Sends a request and waits for its reply until the deadline.
    Result<Message> call(const Message& request, std::chrono::milliseconds timeout);
    // Sends a request without waiting for any reply.
    Result<void> send(const Message& request, std::chrono::milliseconds timeout);

private:
    explicit Client(util::UniqueFd fd) : fd_(std::move(fd)) {}
    util::UniqueFd fd_;
};

} // namespace kache::ipc
