// The libuv server: accepts connections on the Unix socket, splits frames with
// FrameDecoder, parses them with Message::parse and hands each request to the
// daemon; replies come back on the loop thread or are posted from workers.
#include <kache/ipc/server.hpp>

#include <uv.h>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>

namespace kache::ipc {

struct Server::Impl {
    struct Conn {
        uv_pipe_t pipe;
        FrameDecoder decoder;
        ConnectionId id = 0;
        Impl* impl = nullptr;
    };
    struct Timer {
        uv_timer_t handle;
        std::function<void()> fn;
    };
    struct Signal {
        uv_signal_t handle;
        std::function<void(int)> fn;
    };

    uv_loop_t loop{};
    uv_pipe_t listener{};
    uv_async_t wake{};
    bool listening = false;
    std::atomic<bool> closed{false}; // set on the loop thread; post() reads it
    RequestHandler handler;
    std::vector<std::unique_ptr<Timer>> timers;
    std::vector<std::unique_ptr<Signal>> signals;
    std::map<ConnectionId, Conn*> conns;
    ConnectionId next_conn = 1;

    std::mutex posted_mu;
    std::vector<std::pair<ConnectionId, std::string>> posted;
    std::atomic<bool> shutdown_requested{false};

    Impl() {
        uv_loop_init(&loop);
        uv_async_init(&loop, &wake, on_wake);
        wake.data = this;
    }

    ~Impl() {
        if (!closed) close_all();
        uv_run(&loop, UV_RUN_DEFAULT); // lets every close callback run
        uv_loop_close(&loop);
    }

    static void on_write(uv_write_t* req, int) {
        delete static_cast<std::string*>(req->data);
        delete req;
    }

    void write_frame(Conn* c, const std::string& payload) {
        auto* data = new std::string(encode_frame(payload));
        auto* req = new uv_write_t;
        req->data = data;
        uv_buf_t buf = uv_buf_init(data->data(), static_cast<unsigned>(data->size()));
        if (uv_write(req, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1, on_write) != 0) {
            delete data;
            delete req;
        }
    }

    static void on_conn_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

    void close_conn(Conn* c) {
        if (conns.erase(c->id) == 0) return;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_conn_closed);
    }

    static void on_alloc(uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
    }

    static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(s->data);
        Impl* self = c->impl;
        if (n < 0) {
            delete[] buf->base;
            self->close_conn(c);
            return;
        }
        c->decoder.feed(std::string_view(buf->base, static_cast<size_t>(n)));
        delete[] buf->base;
        const ConnectionId id = c->id;
        while (true) {
            auto frame = c->decoder.next();
            if (!frame) { // oversized: nothing after it can be framed
                self->write_frame(c, Ack::failure(frame.error().message).to_message().to_json());
                self->close_conn(c);
                return;
            }
            if (!*frame) break;
            auto message = Message::parse(**frame);
            if (!message) self->write_frame(c, Ack::failure("malformed request: not a JSON object").to_message().to_json());
            else self->handler(id, *message);
            // The handler may have shut the server down, closing this connection.
            if (!self->conns.count(id)) return;
        }
    }

    static void on_connection(uv_stream_t* listener, int status) {
        auto* self = static_cast<Impl*>(listener->data);
        if (status < 0) return;
        auto* c = new Conn;
        c->impl = self;
        c->id = self->next_conn++;
        uv_pipe_init(&self->loop, &c->pipe, 0);
        c->pipe.data = c;
        if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_conn_closed);
            return;
        }
        self->conns[c->id] = c;
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), on_alloc, on_read);
    }

    static void on_wake(uv_async_t* a) {
        auto* self = static_cast<Impl*>(a->data);
        std::vector<std::pair<ConnectionId, std::string>> batch;
        {
            std::lock_guard g(self->posted_mu);
            batch.swap(self->posted);
        }
        for (auto& [id, payload] : batch)
            if (auto it = self->conns.find(id); it != self->conns.end()) self->write_frame(it->second, payload);
        if (self->shutdown_requested) self->close_all();
    }

    void close_all() {
        if (closed) return;
        closed = true;
        if (listening) uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
        for (auto& t : timers) uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), nullptr);
        for (auto& s : signals) uv_close(reinterpret_cast<uv_handle_t*>(&s->handle), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
        std::vector<Conn*> open;
        for (auto& [_, c] : conns) open.push_back(c);
        for (auto* c : open) close_conn(c);
    }
};

Server::Server() : impl_(std::make_unique<Impl>()) {}
Server::~Server() = default;

Result<void> Server::listen(const std::filesystem::path& socket, RequestHandler handler) {
    impl_->handler = std::move(handler);
    uv_pipe_init(&impl_->loop, &impl_->listener, 0);
    impl_->listener.data = impl_.get();
    impl_->listening = true; // initialised: closed with the rest
    int rc = uv_pipe_bind(&impl_->listener, socket.c_str());
    if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&impl_->listener), k_listen_backlog, Impl::on_connection);
    if (rc != 0) return fail(ErrorKind::io, "cannot listen on " + socket.string() + ": " + uv_strerror(rc));
    ::chmod(socket.c_str(), 0600);
    ::signal(SIGPIPE, SIG_IGN); // a client gone mid-reply is an error value, not a signal
    return ok();
}

void Server::every(std::chrono::milliseconds period, std::function<void()> fn) {
    auto t = std::make_unique<Impl::Timer>();
    t->fn = std::move(fn);
    uv_timer_init(&impl_->loop, &t->handle);
    t->handle.data = t.get();
    auto ms = static_cast<std::uint64_t>(period.count());
    uv_timer_start(&t->handle, [](uv_timer_t* h) { static_cast<Impl::Timer*>(h->data)->fn(); }, ms, ms);
    impl_->timers.push_back(std::move(t));
}

void Server::on_signal(std::function<void(int)> fn) {
    for (int signum : {SIGTERM, SIGINT}) {
        auto s = std::make_unique<Impl::Signal>();
        s->fn = fn;
        uv_signal_init(&impl_->loop, &s->handle);
        s->handle.data = s.get();
        uv_signal_start(&s->handle, [](uv_signal_t* h, int n) { static_cast<Impl::Signal*>(h->data)->fn(n); }, signum);
        impl_->signals.push_back(std::move(s));
    }
}

void Server::run() { uv_run(&impl_->loop, UV_RUN_DEFAULT); }

void Server::reply(ConnectionId to, const Message& message) {
    if (auto it = impl_->conns.find(to); it != impl_->conns.end()) impl_->write_frame(it->second, message.to_json());
}

void Server::post(const std::vector<ConnectionId>& to, const Message& message) {
    if (impl_->closed) return; // the connections are gone, and so is the wake handle
    {
        std::lock_guard g(impl_->posted_mu);
        std::string payload = message.to_json();
        for (auto id : to) impl_->posted.emplace_back(id, payload);
    }
    uv_async_send(&impl_->wake);
}

void Server::shutdown() { impl_->close_all(); }

void Server::request_shutdown() {
    if (impl_->closed) return;
    impl_->shutdown_requested = true;
    uv_async_send(&impl_->wake);
}

} // namespace kache::ipc
