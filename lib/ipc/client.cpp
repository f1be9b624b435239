// The blocking client: plain sockets with deadlines (the wrapper links it, so no libuv).
#include <kache/ipc.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kache::ipc {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// How many bytes one recv asks for.
constexpr std::size_t k_read_chunk = 16 << 10;

namespace {

int remaining_ms(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
}

Result<void> send_all(int fd, std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd p{fd, POLLOUT, 0};
            int ms = remaining_ms(deadline);
            if (ms == 0 || ::poll(&p, 1, ms) <= 0) return fail(ErrorKind::timeout, "daemon did not accept the request in time");
            continue;
        }
        return fail(ErrorKind::network, std::string("cannot send to the daemon: ") + std::strerror(errno));
    }
    return ok();
}

// Reads what is there (at least one byte), waiting until the deadline.
Result<std::size_t> recv_some(int fd, char* buf, std::size_t n, Clock::time_point deadline) {
    while (true) {
        ssize_t got = ::recv(fd, buf, n, 0);
        if (got > 0) return static_cast<std::size_t>(got);
        if (got == 0) return fail(ErrorKind::network, "the daemon closed the connection");
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd p{fd, POLLIN, 0};
            int ms = remaining_ms(deadline);
            if (ms == 0 || ::poll(&p, 1, ms) <= 0) return fail(ErrorKind::timeout, "the daemon did not answer in time");
            continue;
        }
        return fail(ErrorKind::network, std::string("cannot read from the daemon: ") + std::strerror(errno));
    }
}

} // namespace

Result<Client> Client::connect(const fs::path& socket, std::chrono::milliseconds timeout) {
    auto path = socket_path(socket);
    if (!path) return std::unexpected(path.error());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return fail(ErrorKind::io, std::string("socket: ") + std::strerror(errno));
    util::UniqueFd owner(fd);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path->c_str(), path->native().size());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        if (errno == EINPROGRESS || errno == EAGAIN) {
            struct pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0)
                return fail(ErrorKind::timeout, "the daemon did not accept the connection in time");
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err != 0) return fail(ErrorKind::not_found, std::string("no daemon at ") + path->string() + ": " + std::strerror(err));
        } else {
            return fail(ErrorKind::not_found, std::string("no daemon at ") + path->string() + ": " + std::strerror(errno));
        }
    }
    return Client(std::move(owner));
}

Result<void> Client::send(const Message& request, std::chrono::milliseconds timeout) {
    return send_all(fd_.get(), encode_frame(request.to_json()), Clock::now() + timeout);
}

Result<Message> Client::call(const Message& request, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    if (auto s = send_all(fd_.get(), encode_frame(request.to_json()), deadline); !s) return std::unexpected(s.error());
    char chunk[k_read_chunk];
    while (true) {
        auto frame = decoder_.next();
        if (!frame) return fail(ErrorKind::invalid_input, "the daemon sent an oversized frame");
        if (*frame) return Message::parse(**frame);
        auto got = recv_some(fd_.get(), chunk, sizeof chunk, deadline);
        if (!got) return std::unexpected(got.error());
        decoder_.feed(std::string_view(chunk, *got));
    }
}

} // namespace kache::ipc
