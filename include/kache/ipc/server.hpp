// kache/ipc/server.hpp — the daemon's side of the protocol: a libuv event loop
// listening on the Unix socket. Linked only into libkache_daemon (the wrapper
// must not load libuv); include it from daemon code only.
//
//   ipc::Server server;
//   server.listen(socket, [&](ipc::ConnectionId c, const ipc::Message& m) { server.reply(c, ...); });
//   server.every(1s, [&] { ... });
//   server.run();                       // until shutdown()
//
// Frames are split with ipc::FrameDecoder and parsed with ipc::Message::parse,
// like the client does. A payload that is not a flat JSON object gets an error
// reply; a frame over k_max_frame gets one and the connection is closed.
//
// What a peer can make the daemon hold is bounded (docs/ipc.md, "Limits"):
// connections, bytes buffered per connection and across connections, idle
// time, and replies queued for a client that does not read them.
#pragma once

#include <kache/error.hpp>
#include <kache/ipc.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

namespace kache::ipc {

// Open connections at most; one more is sent "daemon busy" and closed.
inline constexpr std::size_t k_max_connections = 256;
// Bytes read from a socket at a time (one buffer shared by every connection).
inline constexpr std::size_t k_read_chunk = 64 * 1024;
// Frames up to this size are always buffered: every request kache sends is far
// smaller (a session's root is at most PATH_MAX), so large frames cannot starve them.
inline constexpr std::size_t k_small_frame = 16 * 1024;
// Bytes of larger frames being assembled, across all connections; a frame that
// does not fit in what is left is refused and its connection closed.
inline constexpr std::size_t k_max_large_frames = 16u << 20;
// Bytes one connection may have buffered: its frame in progress plus one read.
inline constexpr std::size_t k_max_buffered_per_connection = k_frame_header + k_max_frame + k_read_chunk;
// Reply bytes queued for a client before the server stops reading its requests,
// and the level they must drain to before it reads again.
inline constexpr std::size_t k_reply_high_water = 64 * 1024;
inline constexpr std::size_t k_reply_low_water = 16 * 1024;
// A connection owed no reply that completes no frame for this long is closed.
inline constexpr std::chrono::seconds k_idle_timeout{10};
// How often idle connections are looked for.
inline constexpr std::chrono::milliseconds k_idle_sweep{1000};

// Names one client connection for as long as it is open.
using ConnectionId = std::uint64_t;

class Server {
public:
    // Called on the loop thread for each request that parsed as a Message.
    // It answers with reply() now or post() later (from any thread).
    using RequestHandler = std::function<void(ConnectionId, const Message&)>;

    Server();
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // Binds the socket (mode 0600) and starts accepting connections.
    Result<void> listen(const std::filesystem::path& socket, RequestHandler handler);
    // Runs fn on the loop thread every period.
    void every(std::chrono::milliseconds period, std::function<void()> fn);
    // Runs fn on the loop thread when SIGTERM or SIGINT arrives.
    void on_signal(std::function<void(int)> fn);
    // Serves until shutdown(); returns when every handle is closed.
    void run();

    // Sends one reply frame (loop thread only). A closed connection drops it.
    void reply(ConnectionId to, const Message& message);
    // Queues a reply for each connection and wakes the loop (any thread).
    void post(const std::vector<ConnectionId>& to, const Message& message);
    // Stops listening and closes every connection (loop thread only).
    void shutdown();
    // shutdown() from any thread, after the replies already posted are written.
    void request_shutdown();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace kache::ipc
