// The daemon's lifecycle: start-up (store, socket directory, one daemon per
// socket, remote), the request dispatch, the tick (idle timeout, restart when
// the binary changes, intent rescan, GC schedule) and shutdown (drain, join).
#include <kache/daemon.hpp>
#include <kache/ipc/server.hpp>
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/cancel.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include "access_log.hpp"
#include "log.hpp"
#include "prefetch.hpp"
#include "remote_checks.hpp"
#include "scrub.hpp"
#include "upload_queue.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace kache::daemon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hash::Digest;

namespace {

// A failed exec on restart is retried this often, this far apart: the binary
// may be mid-replacement (a build relinking it).
constexpr int k_restart_attempts = 20;
constexpr std::chrono::milliseconds k_restart_retry{500};
// Stopping waits at most this long for uploads to finish, then cancels the transfers
// still going (their intents stay and are replayed on the next start): a stalled
// remote cannot keep `kache daemon stop` waiting.
constexpr std::chrono::milliseconds k_max_stop_drain{3000};
// Stopping waits at most this long for the last write of the access log.
constexpr std::chrono::milliseconds k_max_access_flush_wait{2000};

std::int64_t file_mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

} // namespace

struct Daemon::Impl {
    Options opt;
    Log log;
    std::optional<store::Store> store;
    remote::RemoteSpec spec;
    bool have_remote = false;
    std::string remote_desc;

    std::optional<ipc::Server> server;
    std::unique_ptr<UploadQueue> uploads;
    SharedPulls pulls; // one download per entry across checks and prefetch; outlives both
    std::unique_ptr<AccessLog> access; // packs pulled, written in batches for `kache remote gc`
    std::unique_ptr<RemoteChecks> checks;
    std::unique_ptr<Prefetcher> prefetch;
    std::unique_ptr<Scrubber> scrub;

    bool restart = false;
    std::int64_t watch_mtime = 0;
    Clock::time_point last_activity = Clock::now();
    Clock::time_point last_gc = Clock::now();
    Clock::time_point last_rescan = Clock::now();

    // GC runs on this thread, one run at a time, joined before the next and on shutdown.
    std::thread gc_thread;
    std::atomic<bool> gc_busy{false};

    bool uploading() const { return have_remote && !spec.read_only; }

    remote::BackendMaker backend_maker() {
        return [spec = spec] { return remote::Registry::instance().create(spec); };
    }

    void run_gc() {
        auto r = store->gc(opt.config.max_size);
        if (!r) log.error("gc: " + r.error().message);
        if (r && r->corrupt_removed)
            log.warn("gc removed " + std::to_string(r->corrupt_removed) + " corrupt entries and manifests");
        else if (r->entries_removed || r->blobs_removed)
            log.info("gc removed " + std::to_string(r->entries_removed) + " entries, " + std::to_string(r->blobs_removed) +
                     " blobs (" + util::human_bytes(r->bytes_freed) + ")");
    }

    void start_gc() {
        if (gc_busy) return; // the last run is still going
        if (gc_thread.joinable()) gc_thread.join();
        gc_busy = true;
        gc_thread = std::thread([this] {
            run_gc();
            gc_busy = false;
        });
    }

    ipc::StatusReply status() {
        ipc::StatusReply s;
        s.pid = ::getpid();
        s.version = KACHE_VERSION;
        s.socket = opt.socket.string();
        s.log_file = opt.log_file.string();
        s.cache_dir = store->root().string();
        s.remote = have_remote ? remote_desc : "none";
        s.pending_uploads = static_cast<std::int64_t>(store->upload_intents().size());
        if (uploads) {
            auto u = uploads->stats();
            s.uploads_in_flight = static_cast<std::int64_t>(u.in_flight);
            s.upload_queue = static_cast<std::int64_t>(u.queued + u.retrying);
            s.uploaded = static_cast<std::int64_t>(u.uploaded);
            s.upload_failures = static_cast<std::int64_t>(u.failures);
        }
        if (checks) {
            s.remote_checks = static_cast<std::int64_t>(checks->done());
            s.remote_checks_found = static_cast<std::int64_t>(checks->found());
        }
        if (prefetch) s.prefetched = static_cast<std::int64_t>(prefetch->prefetched());
        s.last_error = log.last_error();
        return s;
    }

    // One request, on the loop thread: answered now, or later by a check worker.
    void handle(ipc::ConnectionId c, const ipc::Message& m) {
        auto reply = [&](const ipc::Message& r) { server->reply(c, r); };
        auto reject = [&](std::string why) { reply(ipc::Ack::failure(std::move(why)).to_message()); };
        auto req = ipc::Request::from(m);
        if (!req) return reject(req.error().message);
        last_activity = Clock::now();
        switch (req->type) {
        case ipc::RequestType::ping: return reply(ipc::PingReply{::getpid(), KACHE_VERSION}.to_message());
        case ipc::RequestType::status: return reply(status().to_message());
        case ipc::RequestType::upload: {
            auto k2 = Digest::from_hex(req->k2);
            if (!k2) return reject("upload: bad k2");
            if (uploading()) uploads->enqueue(*k2);
            return reply(ipc::Ack{}.to_message());
        }
        case ipc::RequestType::check: {
            auto k1 = Digest::from_hex(req->k1);
            if (!k1 || req->crate.empty()) return reject("check: bad k1 or crate");
            if (!have_remote) return reject("no remote configured");
            if (auto now = checks->check(c, *k1, req->crate, req->version)) reply(now->to_message());
            return;
        }
        case ipc::RequestType::session:
            if (req->root.empty() || req->root[0] != '/') return reject("session: root must be an absolute path");
            if (have_remote && opt.config.prefetch) prefetch->submit(req->root);
            return reply(ipc::Ack{}.to_message());
        case ipc::RequestType::stop:
            reply(ipc::Ack{}.to_message());
            return server->request_shutdown(); // after the reply is written
        }
    }

    void tick() {
        auto now = Clock::now();
        if (opt.config.daemon_idle_timeout_s > 0 &&
            now - last_activity > std::chrono::seconds(opt.config.daemon_idle_timeout_s) &&
            (!uploads || uploads->idle())) {
            log.lifecycle("idle timeout reached, exiting");
            return server->shutdown();
        }
        if (!opt.watch_binary.empty() && watch_mtime != 0 && file_mtime_ns(opt.watch_binary) > watch_mtime) {
            log.lifecycle(opt.watch_binary.string() + " changed on disk, restarting");
            restart = true;
            return server->shutdown();
        }
        if (uploading() && now - last_rescan > opt.intent_rescan) {
            last_rescan = now;
            uploads->rescan();
        }
        if (now - last_gc > opt.gc_interval) {
            last_gc = now;
            start_gc();
        }
    }

    // Checks the socket directory and takes the one-daemon-per-socket lock;
    // nullopt inside when another daemon holds it.
    Result<std::optional<util::FileLock>> claim_socket() {
        if (auto made = util::make_dirs(opt.socket.parent_path()); !made) return std::unexpected(made.error());
        struct stat dst {};
        if (::stat(opt.socket.parent_path().c_str(), &dst) == 0 && (dst.st_mode & 022))
            return fail(ErrorKind::config, "the socket directory " + opt.socket.parent_path().string() +
                                               " is writable by other users: chmod 700 it or set KACHE_SOCKET_PATH "
                                               "to a private directory");
        fs::path lock_path = opt.socket;
        lock_path += ".lock";
        return util::FileLock::try_acquire(lock_path);
    }

    void open_remote() {
        remote::register_builtin_backends();
        have_remote = opt.config.remote.configured();
        spec = {opt.config.remote.url, opt.config.remote.options, opt.config.remote.read_only};
        if (!have_remote) return;
        auto b = backend_maker()();
        if (!b) {
            log.error("remote: " + b.error().message);
            have_remote = false;
        } else remote_desc = (*b)->describe();
    }

    void start_workers() {
        UploadSettings us;
        us.workers = opt.upload_workers;
        us.parked_retry = opt.parked_retry;
        uploads = std::make_unique<UploadQueue>(*store, backend_maker(), log, us);
        access = std::make_unique<AccessLog>(*store, backend_maker(), log, uploading());
        pulls.on_pulled([a = access.get()](const std::string& key) { a->record(key); });
        checks = std::make_unique<RemoteChecks>(
            *store, backend_maker(), log,
            CheckSettings{opt.check_workers, opt.negative_cache, opt.remote_down_backoff,
                          remote::PackLimits::for_max_size(opt.config.max_size), opt.config.remote_check_timeout},
            [this](const std::vector<ipc::ConnectionId>& to, const ipc::CheckReply& r) { server->post(to, r.to_message()); },
            &pulls);
        prefetch = std::make_unique<Prefetcher>(
            *store, backend_maker(), log,
            PrefetchSettings{opt.prefetch_workers, opt.prefetch_max_entries, opt.prefetch_max_bytes, opt.prefetch_max_time,
                             remote::PackLimits::for_max_size(opt.config.max_size)},
            &pulls);
        // Replay intents left by a previous daemon (or written while none ran).
        if (uploading())
            for (auto& d : store->upload_intents()) uploads->enqueue(d);
        uploads->start();
        checks->start();
        prefetch->start();
        access->start();
        scrub = std::make_unique<Scrubber>(*store, log, ScrubSettings{opt.config.scrub_rate});
        scrub->start();
        start_gc();
    }

    // Drains the uploads (at most drain_timeout, and k_max_stop_drain), cancels the
    // transfers still going, then joins every thread.
    void stop_workers() {
        auto drain = std::min<std::chrono::milliseconds>(opt.drain_timeout, k_max_stop_drain);
        if (!uploads->drain(drain))
            log.warn("stopping with uploads pending; their intents stay and are replayed on the next start");
        access->finish(k_max_access_flush_wait); // before transfers are cancelled
        remote::cancel_transfers();
        uploads->stop();
        checks->stop();
        prefetch->stop();
        scrub->stop();
        if (gc_thread.joinable()) gc_thread.join();
    }

    Result<int> run() {
        auto level = parse_log_level(opt.config.log_level).value_or(LogLevel::warn);
        log.open(opt.log_file, opt.config.daemon_foreground, level);
        auto fatal = [&](const Error& e) -> Result<int> {
            log.error(e.message);
            return std::unexpected(e);
        };
        auto st = store::Store::open(opt.config.cache_dir);
        if (!st) return fatal(st.error());
        store.emplace(std::move(*st));
        auto lock = claim_socket();
        if (!lock) return fatal(lock.error());
        if (!*lock) {
            log.lifecycle("another daemon already serves " + opt.socket.string());
            return 0;
        }
        ::unlink(opt.socket.c_str()); // stale: we hold the lock, so nobody serves it
        remote::allow_transfers(); // a daemon run before this one in the process cancelled them
        open_remote();
        watch_mtime = opt.watch_binary.empty() ? 0 : file_mtime_ns(opt.watch_binary);

        server.emplace();
        if (auto l = server->listen(opt.socket, [this](ipc::ConnectionId c, const ipc::Message& m) { handle(c, m); }); !l)
            return fatal(l.error());
        server->every(k_tick_interval, [this] { tick(); });
        server->on_signal([this](int signum) {
            log.lifecycle(std::string("received ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
            server->shutdown();
        });
        start_workers();
        log.lifecycle("kached " + std::string(KACHE_VERSION) + " serving " + opt.socket.string() + " (pid " +
                      std::to_string(::getpid()) + ", remote " + (have_remote ? remote_desc : "none") + ")");
        server->run();
        ::unlink(opt.socket.c_str());
        stop_workers();
        server.reset();
        log.lifecycle(restart ? "restarting" : "stopped");
        if (restart && !opt.restart_argv.empty()) {
            lock->reset();
            Error e;
            for (int attempt = 0; attempt < k_restart_attempts; ++attempt) {
                e = util::exec_replace(opt.restart_argv);
                std::this_thread::sleep_for(k_restart_retry);
            }
            return fatal(Error{e.kind, "cannot restart: " + e.message});
        }
        return 0;
    }
};

Daemon::Daemon(Options options) : impl_(std::make_unique<Impl>()) { impl_->opt = std::move(options); }
Daemon::~Daemon() = default;
Result<int> Daemon::run() { return impl_->run(); }

} // namespace kache::daemon
