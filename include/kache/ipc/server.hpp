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
