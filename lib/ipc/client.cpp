#include <kache/ipc.hpp>
#include <kache/util/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace kache::ipc {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

Message& Message::set(const std::string& key, std::string value) {
    std::string json;
    util::append_json_string(json, value);
    fields_[key] = std::move(json);
    return *this;
}
Message& Message::set(const std::string& key, std::int64_t value) {
    fields_[key] = std::to_string(value);
    return *this;
}
Message& Message::set_bool(const std::string& key, bool value) {
    fields_[key] = value ? "true" : "false";
    return *this;
}

std::optional<std::string> Message::str(const std::string& key) const {
    auto it = fields_.find(key);
    if (it == fields_.end() || it->second.empty() || it->second[0] != '"') return std::nullopt;
    auto parsed = util::parse_flat_json("{\"v\":" + it->second + "}");
    if (!parsed) return std::nullopt;
    return parsed->at("v").text;
}
std::optional<std::int64_t> Message::num(const std::string& key) const {
    auto it = fields_.find(key);
    if (it == fields_.end()) return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || p != it->second.data() + it->second.size()) return std::nullopt;
    return v;
}
bool Message::flag(const std::string& key) const {
    auto it = fields_.find(key);
    return it != fields_.end() && it->second == "true";
}

std::string Message::to_json() const {
    std::string out = "{";
    bool first = true;
    for (auto& [k, v] : fields_) {
        if (!first) out += ",";
        first = false;
        util::append_json_string(out, k);
        out += ":" + v;
    }
    return out + "}";
}

Result<Message> Message::parse(std::string_view json) {
    auto obj = util::parse_flat_json(json);
    if (!obj) return std::unexpected(obj.error());
    Message m;
    for (auto& [k, v] : *obj) {
        switch (v.kind) {
        case util::JsonScalar::Kind::string: m.set(k, v.text); break;
        case util::JsonScalar::Kind::number: m.fields_[k] = v.text; break;
        case util::JsonScalar::Kind::boolean: m.fields_[k] = v.text; break;
        case util::JsonScalar::Kind::null: break;
        }
    }
    return m;
}

namespace {
Message base(const char* type) {
    Message m;
    m.set("v", std::int64_t(k_protocol_version));
    m.set("type", std::string(type));
    return m;
}
} // namespace

Message Request::ping() { return base("ping"); }
Message Request::upload(std::string_view k2) { return base("upload").set("k2", std::string(k2)); }
Message Request::check(std::string_view k1, std::string_view crate, std::string_view version) {
    return base("check").set("k1", std::string(k1)).set("crate", std::string(crate)).set("version", std::string(version));
}
Message Request::session(std::string_view root) { return base("session").set("root", std::string(root)); }
Message Request::status() { return base("status"); }
Message Request::stop() { return base("stop"); }

std::string encode_frame(std::string_view payload) {
    std::string out;
    auto n = static_cast<std::uint32_t>(payload.size());
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
    out.append(payload);
    return out;
}

Result<fs::path> socket_path(const fs::path& configured) {
    if (configured.empty() || !configured.is_absolute())
        return fail(ErrorKind::config, "the daemon socket path '" + configured.string() +
                                           "' is not absolute: set KACHE_SOCKET_PATH to an absolute path");
    if (configured.native().size() > k_max_socket_path)
        return fail(ErrorKind::config, "the daemon socket path " + configured.string() + " is longer than " +
                                           std::to_string(k_max_socket_path) +
                                           " bytes, the limit for Unix sockets: set KACHE_SOCKET_PATH to a shorter path");
    return configured;
}

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

Result<void> recv_all(int fd, char* buf, size_t n, Clock::time_point deadline) {
    while (n > 0) {
        ssize_t got = ::recv(fd, buf, n, 0);
        if (got > 0) {
            buf += got;
            n -= static_cast<size_t>(got);
            continue;
        }
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
    return ok();
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
    unsigned char len[4];
    if (auto r = recv_all(fd_.get(), reinterpret_cast<char*>(len), 4, deadline); !r) return std::unexpected(r.error());
    std::uint32_t n = static_cast<std::uint32_t>(len[0]) | static_cast<std::uint32_t>(len[1]) << 8 |
                      static_cast<std::uint32_t>(len[2]) << 16 | static_cast<std::uint32_t>(len[3]) << 24;
    if (n > k_max_frame) return fail(ErrorKind::invalid_input, "the daemon sent an oversized frame");
    std::string payload(n, '\0');
    if (auto r = recv_all(fd_.get(), payload.data(), n, deadline); !r) return std::unexpected(r.error());
    return Message::parse(payload);
}

} // namespace kache::ipc
