// A loopback HTTP server for the S3 tests that need a server to misbehave or answer
// what the real one (tests/s3) cannot: a socket server thread in the test process.
#pragma once

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>

namespace kache::remote::test {

// A loopback HTTP server on its own thread: one connection at a time, each request's head
// read whole and handed to the reply function, which writes the answer and says whether the
// connection stays open.
class StandIn {
public:
    using Reply = std::function<bool(StandIn& self, int fd, const std::string& head)>;

    explicit StandIn(Reply reply) : reply_(std::move(reply)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listen_fd_ >= 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(::listen(listen_fd_, 8) == 0);
        socklen_t len = sizeof a;
        REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~StandIn() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
    }
    StandIn(const StandIn&) = delete;
    StandIn& operator=(const StandIn&) = delete;

    std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
    bool stopping() const { return stop_; }

    // Sends all of data; false once the client has gone (or the test is ending).
    bool send_all(int fd, std::string_view data) {
        while (!data.empty()) {
            if (stop_) return false;
            ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
            if (counting_body_) body_sent += static_cast<std::uint64_t>(n);
        }
        return true;
    }
    // Sends the head of a reply, then counts what follows as body.
    bool send_head(int fd, const std::string& status_and_headers) {
        counting_body_ = false;
        bool ok = send_all(fd, status_and_headers + "\r\n");
        counting_body_ = true;
        return ok;
    }

    std::atomic<int> requests{0};
    std::atomic<std::uint64_t> body_sent{0}; // body bytes the client accepted, all replies

private:
    void run() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            int one = 1; // a head and a body sent apiece must not wait on a delayed ACK
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            serve(fd);
            ::close(fd);
        }
    }
    void serve(int fd) {
        std::string buf;
        while (!stop_) {
            auto end = buf.find("\r\n\r\n");
            if (end != std::string::npos) {
                std::string head = buf.substr(0, end);
                buf.erase(0, end + 4);
                ++requests;
                if (!reply_(*this, fd, head)) return;
                continue;
            }
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            char chunk[4096];
            ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return;
            buf.append(chunk, static_cast<std::size_t>(n));
        }
    }

    Reply reply_;
    int listen_fd_ = -1;
    int port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<bool> counting_body_{false};
    std::thread thread_;
};

} // namespace kache::remote::test
