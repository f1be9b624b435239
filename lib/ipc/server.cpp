// The libuv server: accepts connections on the Unix socket, splits frames with
// FrameDecoder, parses them with Message::parse and hands each request to the
// daemon; replies come back on the loop thread or are posted from workers.
#include <kache/ipc/server.hpp>

#include <uv.h>

#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
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
        std::size_t charge = 0;      // this connection's share of k_max_large_frames
        std::size_t queued = 0;      // reply bytes handed to libuv, not yet written
        std::size_t owed = 0;        // requests dispatched, not yet answered
        std::uint64_t last_active = 0; // uv_now() of the last complete frame or written reply
        bool reading = false;
        bool paused = false;         // over k_reply_high_water: not reading, not dispatching
        bool heavy = false;          // held a large frame or a long reply queue
    };
    // One reply on its way out: the frame bytes live as long as the request.
    struct Write {
        uv_write_t req;
        std::string bytes;
        Impl* impl = nullptr;
        ConnectionId conn = 0;
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
    std::size_t large_frames = 0; // sum of every connection's charge
    bool trim = false;            // a heavy connection closed: give its memory back to the system
    // libuv reads into it and on_read copies out at once, so one serves all connections.
    std::unique_ptr<char[]> read_buf = std::make_unique<char[]>(k_read_chunk);

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

    static uv_stream_t* stream(Conn* c) { return reinterpret_cast<uv_stream_t*>(&c->pipe); }

    Conn* find(ConnectionId id) {
        auto it = conns.find(id);
        return it == conns.end() ? nullptr : it->second;
    }

    // Called for every write, also with UV_ECANCELED when its connection closes.
    static void on_write(uv_write_t* req, int status) {
        std::unique_ptr<Write> w(static_cast<Write*>(req->data));
        Impl* self = w->impl;
        Conn* c = self->find(w->conn);
        if (!c) return;
        c->queued -= std::min(c->queued, w->bytes.size());
        if (status < 0) { // the client went away: free what it had queued now
            self->close_conn(c);
            return;
        }
        c->last_active = uv_now(&self->loop);
        if (c->paused && c->queued <= k_reply_low_water) self->resume(c);
    }

    void write_frame(Conn* c, const std::string& payload) {
        if (c->owed > 0) --c->owed;
        auto w = std::make_unique<Write>();
        w->bytes = encode_frame(payload);
        w->impl = this;
        w->conn = c->id;
        w->req.data = w.get();
        uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
        if (uv_write(&w->req, stream(c), &buf, 1, on_write) != 0) return;
        c->queued += w->bytes.size();
        w.release(); // on_write owns it now
        if (c->queued > k_reply_high_water) {
            c->heavy = true;
            pause(c);
        }
    }

    // The client does not read its replies: stop reading its requests too.
    void pause(Conn* c) {
        c->paused = true;
        if (c->reading) uv_read_stop(stream(c));
        c->reading = false;
    }

    void resume(Conn* c) {
        c->paused = false;
        const ConnectionId id = c->id;
        if (!dispatch(c)) return;
        if (!find(id) || c->paused || c->reading) return;
        if (uv_read_start(stream(c), on_alloc, on_read) == 0) c->reading = true;
        else close_conn(c);
    }

    static void on_conn_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

    void close_conn(Conn* c) {
        if (conns.erase(c->id) == 0) return;
        large_frames -= c->charge;
        c->charge = 0;
        trim = trim || c->heavy;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_conn_closed);
    }

    // Refuses with an error reply, then closes (the reply goes if the socket takes it).
    void refuse(Conn* c, const std::string& why) {
        write_frame(c, Ack::failure(why).to_message().to_json());
        close_conn(c);
    }

    static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
        Impl* self = static_cast<Conn*>(h->data)->impl;
        buf->base = self->read_buf.get();
        buf->len = k_read_chunk;
    }

    // Hands every complete frame buffered on c to the handler, until c pauses.
    // Then charges the frame still being assembled against k_max_large_frames.
    // False when c was closed.
    bool dispatch(Conn* c) {
        const ConnectionId id = c->id;
        while (!c->paused) {
            auto frame = c->decoder.next();
            if (!frame) { // oversized: nothing after it can be framed
                refuse(c, frame.error().message);
                return false;
            }
            if (!*frame) break;
            ++c->owed;
            c->last_active = uv_now(&loop);
            auto message = Message::parse(**frame);
            if (!message) write_frame(c, Ack::failure("malformed request: not a JSON object").to_message().to_json());
            else handler(id, *message);
            // The handler may have shut the server down, closing this connection.
            if (!find(id)) return false;
        }
        std::size_t charge = 0;
        if (auto len = c->decoder.next_length(); len && *len > k_small_frame) charge = k_frame_header + *len;
        if (charge > c->charge && large_frames - c->charge + charge > k_max_large_frames) {
            refuse(c, "daemon busy: too many large frames buffered");
            return false;
        }
        large_frames = large_frames - c->charge + charge;
        c->charge = charge;
        c->heavy = c->heavy || charge > 0;
        return true;
    }

    static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Conn*>(s->data);
        Impl* self = c->impl;
        if (n < 0) {
            self->close_conn(c);
            return;
        }
        c->decoder.feed(std::string_view(buf->base, static_cast<size_t>(n)));
        if (c->decoder.buffered() > k_max_buffered_per_connection) { // cannot happen with a sane decoder
            self->close_conn(c);
            return;
        }
        self->dispatch(c);
    }

    static void on_connection(uv_stream_t* listener, int status) {
        auto* self = static_cast<Impl*>(listener->data);
        if (status < 0) return;
        auto* c = new Conn;
        c->impl = self;
        c->id = self->next_conn++;
        uv_pipe_init(&self->loop, &c->pipe, 0);
        c->pipe.data = c;
        if (uv_accept(listener, stream(c)) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_conn_closed);
            return;
        }
        self->conns[c->id] = c;
        c->last_active = uv_now(&self->loop);
        if (self->conns.size() > k_max_connections) {
            self->refuse(c, "daemon busy: too many connections");
            return;
        }
        if (uv_read_start(stream(c), on_alloc, on_read) == 0) c->reading = true;
        else self->close_conn(c);
    }

    // Every k_idle_sweep: closes connections that hold a slot or memory and do
    // nothing, and gives freed memory back after a heavy connection closed.
    void sweep() {
        const std::uint64_t now = uv_now(&loop);
        const auto limit = static_cast<std::uint64_t>(std::chrono::milliseconds(k_idle_timeout).count());
        std::vector<Conn*> idle;
        for (auto& [_, c] : conns)
            if (c->owed == 0 && now - c->last_active >= limit) idle.push_back(c);
        for (auto* c : idle) close_conn(c);
#ifdef __GLIBC__
        // Many small reply buffers freed in the middle of the heap stay resident
        // otherwise: after an abusive client hangs up the daemon returns to idle.
        if (trim) ::malloc_trim(0);
#endif
        trim = false;
    }

    static void on_wake(uv_async_t* a) {
        auto* self = static_cast<Impl*>(a->data);
        std::vector<std::pair<ConnectionId, std::string>> batch;
        {
            std::lock_guard g(self->posted_mu);
            batch.swap(self->posted);
        }
        for (auto& [id, payload] : batch)
            if (Conn* c = self->find(id)) self->write_frame(c, payload);
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
    every(k_idle_sweep, [impl = impl_.get()] { impl->sweep(); });
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
    if (auto* c = impl_->find(to)) impl_->write_frame(c, message.to_json());
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
