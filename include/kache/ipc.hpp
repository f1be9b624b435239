// kache/ipc.hpp — the wire protocol between the wrapper/CLI and kached
// (written down for other clients in docs/ipc.md).
//
// A frame is a 4-byte little-endian length followed by that many bytes of one
// flat JSON object, at most k_max_frame bytes. Every request carries "v"
// (protocol version) and "type"; every reply carries "ok" and, on failure,
// "error". Both sides parse with Message::parse and split frames with
// FrameDecoder, so there is one reading of the protocol.
//
//   auto c = kache::ipc::Client::connect(socket, 50ms);    // fails fast if no daemon
//   auto m = c->call(kache::ipc::Request::check(k1, "serde", "1.0.152"), 3s);
//   auto reply = m ? kache::ipc::CheckReply::from(*m) : ...;
//
// The client is plain sockets (core library: the wrapper must not load libuv);
// the server (kache/ipc/server.hpp) is libuv and lives in libkache_daemon.
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

// The "v" every request carries; a server answers any other value with an error.
inline constexpr int k_protocol_version = 1;
// The length prefix: an unsigned 32-bit little-endian byte count.
inline constexpr std::size_t k_frame_header = 4;
// The largest payload either side accepts (1 MiB); a longer frame ends the connection.
inline constexpr std::uint32_t k_max_frame = 1 << 20;
// sockaddr_un's sun_path holds 108 bytes including the terminating NUL.
inline constexpr std::size_t k_max_socket_path = 107;
// How many connections may wait to be accepted by the server.
inline constexpr int k_listen_backlog = 256;

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
    bool has(const std::string& key) const { return fields_.count(key) != 0; }

    // Serializes to one JSON object.
    std::string to_json() const;
    // Parses a flat JSON object (strings, integers, booleans). ErrorKind::invalid_input otherwise.
    static Result<Message> parse(std::string_view json);

    const std::map<std::string, std::string>& raw() const { return fields_; }

private:
    // Each value is kept as its JSON text: "\"s\"", "12", "true".
    std::map<std::string, std::string> fields_;
};

enum class RequestType { ping, upload, check, session, status, stop };

// A request: constructors for clients (so the wire names live in one place),
// and the decoded form a server works from.
struct Request {
    RequestType type = RequestType::ping;
    std::string k1;      // check: the invocation key, 32 hex digits
    std::string k2;      // upload: the result key, 32 hex digits
    std::string crate;   // check: the crate name
    std::string version; // check: the crate version ("" if unknown)
    std::string root;    // session: the absolute directory cargo runs in

    static Message ping();
    // The wrapper recorded K2 and wrote an upload intent: upload it soon.
    static Message upload(std::string_view k2_hex);
    // Look for K1 on the remote and import what is there before answering.
    static Message check(std::string_view k1_hex, std::string_view crate, std::string_view version);
    // A build session started in this directory: prefetch its dependency graph.
    static Message session(std::string_view root);
    static Message status();
    static Message stop();

    // Reads a request: checks "v" and "type" and takes the type's string fields.
    // The error's message is what a server sends back (it names what is wrong);
    // the fields' contents (hex digits, absolute paths) are the server's to check.
    static Result<Request> from(const Message& m);
};

// ---- replies: one struct per shape, built and read only through these ----

// {"ok":true} or {"ok":false,"error":"..."}: upload, session, stop and every error.
struct Ack {
    bool ok = true;
    std::string error;

    static Ack failure(std::string why) { return Ack{false, std::move(why)}; }
    Message to_message() const;
    // ErrorKind::invalid_input when "ok" is not a boolean.
    static Result<Ack> from(const Message& m);
};

// The reply to ping.
struct PingReply {
    std::int64_t pid = 0;
    std::string version; // kached's version

    Message to_message() const;
    static Result<PingReply> from(const Message& m);
};

// The reply to check: how many entries for K1 were imported from the remote.
struct CheckReply {
    bool ok = true;
    std::int64_t found = 0;
    bool cached = false;  // answered from the negative cache, without asking the remote
    std::string error;    // set when the remote failed (ok stays true if something was found)

    Message to_message() const;
    static Result<CheckReply> from(const Message& m);
};

// The reply to status (and `kache daemon status --json`).
struct StatusReply {
    bool running = true;
    std::int64_t pid = 0;
    std::string version;
    std::string socket;
    std::string log_file;
    std::string cache_dir;
    std::string remote = "none";        // the remote's description
    std::int64_t pending_uploads = 0;   // upload intents on disk
    std::int64_t uploads_in_flight = 0;
    std::int64_t upload_queue = 0;      // queued plus waiting for a retry
    std::int64_t uploaded = 0;
    std::int64_t upload_failures = 0;
    std::int64_t remote_checks = 0;
    std::int64_t remote_checks_found = 0;
    std::int64_t prefetched = 0;
    std::string last_error;

    // A running daemon's full reply (with "ok"); for !running only what is known
    // without a daemon: running, pid 0, pending_uploads and socket.
    Message to_message() const;
    static Result<StatusReply> from(const Message& m);
};

// Splits a byte stream into frame payloads. Bytes go in with feed() in any
// chunking; next() yields each complete payload once.
class FrameDecoder {
public:
    // Appends bytes as they arrive.
    void feed(std::string_view bytes);
    // The next complete payload, or nullopt until more bytes arrive. A length
    // prefix over k_max_frame is ErrorKind::invalid_input ("frame too large"),
    // from then on: the stream cannot be resynchronised.
    Result<std::optional<std::string>> next();
    // Bytes received but not yet returned.
    std::size_t buffered() const { return buf_.size() - pos_; }
    // The length prefix of the next frame once its header has arrived.
    std::optional<std::uint32_t> next_length() const;

private:
    std::string buf_;
    std::size_t pos_ = 0;
    bool oversized_ = false;
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
    FrameDecoder decoder_;
};

} // namespace kache::ipc
