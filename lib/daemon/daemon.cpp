#include <kache/daemon.hpp>
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/pack.hpp>
#include <kache/remote/sync.hpp>
#include <kache/store.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <simdjson.h>
#include <uv.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace kache::daemon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using hash::Digest;

Result<Options> Options::from(const config::Config& cfg) {
    Options o;
    o.config = cfg;
    auto sock = ipc::socket_path(cfg.effective_socket_path());
    if (!sock) return std::unexpected(sock.error());
    o.socket = *sock;
    o.log_file = o.socket.parent_path() / "kached.log";
    return o;
}

namespace {

// A log file with size-based rotation, safe to use from any thread.
class Log {
public:
    void open(const fs::path& file, bool to_stderr) {
        file_ = file;
        to_stderr_ = to_stderr;
    }
    void write(const char* level, const std::string& msg) {
        std::lock_guard g(mu_);
        char when[32];
        std::time_t t = std::time(nullptr);
        std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
        std::string line = std::string(when) + " " + level + " " + msg + "\n";
        if (to_stderr_) util::write_all(2, line);
        if (file_.empty()) return;
        struct stat st {};
        if (::stat(file_.c_str(), &st) == 0 && st.st_size > k_rotate) {
            fs::path old = file_;
            old += ".1";
            ::rename(file_.c_str(), old.c_str());
        }
        int fd = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) return;
        util::write_all(fd, line);
        ::close(fd);
    }

private:
    static constexpr off_t k_rotate = 10 << 20;
    std::mutex mu_;
    fs::path file_;
    bool to_stderr_ = false;
};

std::int64_t file_mtime_ns(const fs::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return 0;
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

std::string reply_error(const std::string& msg) {
    ipc::Message m;
    m.set_bool("ok", false);
    m.set("error", msg);
    return m.to_json();
}

} // namespace

struct Daemon::Impl {
    Options opt;
    Log log;
    std::optional<store::Store> store;
    remote::RemoteSpec spec;
    bool have_remote = false;
    std::string remote_desc;

    uv_loop_t loop{};
    uv_pipe_t server{};
    uv_async_t wake{};
    uv_timer_t tick{};
    uv_signal_t sigterm{}, sigint{};
    bool restart = false;
    std::int64_t watch_mtime = 0;
    Clock::time_point last_activity = Clock::now();
    Clock::time_point last_gc = Clock::now();
    simdjson::dom::parser parser;

    struct Conn {
        uv_pipe_t pipe;
        std::string buf;
        std::uint64_t id = 0;
        Impl* impl = nullptr;
    };
    std::map<std::uint64_t, Conn*> conns;
    std::uint64_t next_conn = 1;

    std::mutex reply_mu;
    std::vector<std::pair<std::uint64_t, std::string>> replies;
    std::atomic<bool> stop_requested{false};

    // Upload queue.
    std::mutex q_mu;
    std::condition_variable q_cv;
    std::deque<Digest> queue;
    std::set<Digest> queued;
    std::multimap<Clock::time_point, std::pair<Digest, int>> retries;
    std::map<Digest, int> attempts;
    // Intents given up on (too many failures, or an error a retry cannot fix), and when.
    std::map<Digest, Clock::time_point> parked;
    Clock::time_point last_rescan = Clock::now();
    int uploads_in_flight = 0;
    bool workers_exit = false;

    // Remote checks.
    struct Check {
        Digest k1;
        std::string crate, version;
    };
    std::mutex c_mu;
    std::condition_variable c_cv;
    std::deque<Check> checks;
    std::map<Digest, std::vector<std::uint64_t>> waiting;
    std::map<Digest, Clock::time_point> negative;
    // Set when a listing failed in a way a retry could fix (the remote is down or
    // unreachable): until then checks are answered at once, without asking it.
    Clock::time_point remote_down_until{};
    std::string remote_down_why;

    // An error reply for checks while the remote is known to be down; "" when it is not.
    std::string remote_down_reply() {
        if (Clock::now() >= remote_down_until) return {};
        ipc::Message m;
        m.set_bool("ok", false);
        m.set("found", std::int64_t(0));
        m.set("error", "the remote is unavailable (" + remote_down_why + "); not asked again for a few seconds");
        return m.to_json();
    }

    // Prefetch.
    std::mutex p_mu;
    std::condition_variable p_cv;
    std::deque<std::string> sessions;
    std::set<std::string> sessions_seen;

    std::atomic<std::uint64_t> uploaded{0}, upload_failures{0}, checks_done{0}, checks_found{0}, prefetched{0};
    std::mutex err_mu;
    std::string last_error;
    std::vector<std::thread> threads;

    void error(const std::string& msg) {
        log.write("error", msg);
        std::lock_guard g(err_mu);
        last_error = msg;
    }

    Result<std::unique_ptr<remote::RemoteBackend>> backend() { return remote::Registry::instance().create(spec); }

    // ---------------- uploads ----------------

    void enqueue_upload(const Digest& k2) {
        std::lock_guard g(q_mu);
        if (queued.insert(k2).second) queue.push_back(k2);
        q_cv.notify_one();
    }

    Result<void> upload_one(remote::RemoteBackend& be, const Digest& k2) {
        auto entry = store->read_entry(k2);
        if (!entry) {
            if (entry.error().kind == ErrorKind::not_found) return ok(); // gone: nothing to upload
            return std::unexpected(entry.error());
        }
        auto manifest = store->read_manifest(entry->k1);
        std::optional<key::InputSet> set;
        if (manifest)
            for (auto& s : manifest->sets)
                if (key::result_key(entry->k1, s) == k2) set = s;
        if (!set) return ok(); // the input set was replaced locally: nothing consistent to upload
        fs::path pack_file = store->tmp_dir() / (".up." + k2.hex() + "." + std::to_string(::getpid()));
        fs::path man_file = store->tmp_dir() / (".upm." + k2.hex() + "." + std::to_string(::getpid()));
        struct Cleanup {
            fs::path a, b;
            ~Cleanup() {
                ::unlink(a.c_str());
                ::unlink(b.c_str());
            }
        } cleanup{pack_file, man_file};
        auto size = remote::pack(*store, *entry, pack_file);
        if (!size) return std::unexpected(size.error());
        if (auto w = util::write_file_atomic(man_file, remote::manifest_object(*set), store->tmp_dir()); !w) return w;
        // The pack first: a manifest never names a pack the remote lacks.
        auto r = be.put(remote::pack_key(*entry), pack_file, remote::Overwrite::no);
        if (!r && r.error().kind != ErrorKind::conflict) return r;
        r = be.put(remote::manifest_key(*entry), man_file, remote::Overwrite::no);
        if (!r && r.error().kind != ErrorKind::conflict) return r;
        return ok();
    }

    void upload_worker() {
        std::unique_ptr<remote::RemoteBackend> be;
        std::mt19937 rng{std::random_device{}()};
        while (true) {
            Digest k2;
            {
                std::unique_lock lk(q_mu);
                while (true) {
                    auto now = Clock::now();
                    while (!retries.empty() && retries.begin()->first <= now) {
                        auto [d, n] = retries.begin()->second;
                        retries.erase(retries.begin());
                        attempts[d] = n;
                        if (queued.insert(d).second) queue.push_back(d);
                    }
                    if (!queue.empty()) break;
                    if (workers_exit) return;
                    q_cv.wait_for(lk, std::chrono::milliseconds(500));
                }
                k2 = queue.front();
                queue.pop_front();
                ++uploads_in_flight;
            }
            Result<void> r = ok();
            if (!be) {
                auto b = backend();
                if (!b) r = std::unexpected(b.error());
                else be = std::move(*b);
            }
            if (r) r = upload_one(*be, k2);
            std::unique_lock lk(q_mu);
            --uploads_in_flight;
            queued.erase(k2);
            if (r) {
                store->remove_upload_intent(k2);
                attempts.erase(k2);
                ++uploaded;
                log.write("info", "uploaded " + k2.hex());
            } else {
                ++upload_failures;
                int n = attempts[k2] + 1;
                lk.unlock();
                error("upload of " + k2.hex() + " failed (attempt " + std::to_string(n) + "): " + r.error().message);
                lk.lock();
                if (r.error().retryable() && n < 8) {
                    // Exponential backoff with full jitter, capped at a minute.
                    auto cap = std::min<std::int64_t>(60000, 500ll << n);
                    auto delay = std::chrono::milliseconds(std::uniform_int_distribution<std::int64_t>(cap / 2, cap)(rng));
                    retries.emplace(Clock::now() + delay, std::make_pair(k2, n));
                } else {
                    attempts.erase(k2); // the intent stays on disk: a later rescan or the next start tries again
                    parked[k2] = Clock::now();
                }
            }
            q_cv.notify_all();
        }
    }

    std::size_t pending_uploads() { return store->upload_intents().size(); }

    // Queues the intents on disk that are neither queued, in flight, waiting for
    // a retry, nor parked recently: those of a remote that was down longer than
    // the retries last, and any whose request never reached us.
    void rescan_intents() {
        std::lock_guard g(q_mu); // while listing too: a worker removes an intent under it when done
        auto on_disk = store->upload_intents();
        std::set<Digest> retrying;
        for (auto& [_, v] : retries) retrying.insert(v.first);
        auto now = Clock::now();
        std::size_t n = 0;
        for (auto& d : on_disk) {
            if (queued.count(d) || retrying.count(d)) continue;
            if (auto it = parked.find(d); it != parked.end()) {
                if (now - it->second < opt.parked_retry) continue;
                parked.erase(it);
            }
            queued.insert(d);
            queue.push_back(d);
            ++n;
        }
        if (n) {
            log.write("info", "rescan: queued " + std::to_string(n) + " upload intents found on disk");
            q_cv.notify_all();
        }
    }

    // ---------------- remote checks ----------------

    void check_worker() {
        std::unique_ptr<remote::RemoteBackend> be;
        while (true) {
            Check job;
            {
                std::unique_lock lk(c_mu);
                c_cv.wait(lk, [&] { return !checks.empty() || workers_exit; });
                if (checks.empty()) return;
                job = checks.front();
                checks.pop_front();
            }
            std::int64_t found = 0;
            std::string err;
            {
                // Queued before the remote was found down: answer without waiting for it.
                std::unique_lock lk(c_mu);
                if (auto down = remote_down_reply(); !down.empty()) {
                    auto to = std::move(waiting[job.k1]);
                    waiting.erase(job.k1);
                    lk.unlock();
                    post_replies(to, down);
                    continue;
                }
            }
            bool remote_down = false;
            if (!be) {
                if (auto b = backend()) be = std::move(*b);
                else err = b.error().message;
            }
            if (be) {
                std::string prefix = remote::crate_manifest_prefix(job.crate) +
                                     remote::key_safe(job.version.empty() ? "0" : job.version) + "/" + job.k1.hex() + "/";
                auto objects = be->list(prefix);
                if (!objects) {
                    err = objects.error().message;
                    remote_down = objects.error().retryable();
                } else
                    for (auto& o : *objects) {
                        auto k2 = Digest::from_hex(o.key.substr(o.key.rfind('/') + 1));
                        bool had = k2 && store->has_entry(*k2);
                        // Marked before the entry lands: a wrapper may find it the
                        // moment it is committed, and must count it as remote.
                        if (!had && k2) store->set_origin(*k2, "remote");
                        auto pulled = remote::pull_entry(*store, *be, o.key);
                        if (!pulled) {
                            if (!had && k2 && !store->has_entry(*k2)) (void)store->take_origin(*k2);
                            err = pulled.error().message;
                            continue;
                        }
                        ++found;
                    }
            }
            if (!err.empty()) error("remote check of " + job.crate + " " + job.k1.hex() + ": " + err);
            ++checks_done;
            if (found) ++checks_found;
            ipc::Message reply;
            reply.set_bool("ok", err.empty() || found > 0);
            reply.set("found", found);
            if (!err.empty()) reply.set("error", err);
            std::vector<std::uint64_t> to;
            {
                std::lock_guard g(c_mu);
                to = std::move(waiting[job.k1]);
                waiting.erase(job.k1);
                if (found == 0 && err.empty()) negative[job.k1] = Clock::now();
                if (remote_down) {
                    remote_down_until = Clock::now() + opt.remote_down_backoff;
                    remote_down_why = err;
                }
            }
            post_replies(to, reply.to_json());
        }
    }

    // Returns true if the check was queued (the reply comes later).
    bool start_check(std::uint64_t conn, const Digest& k1, std::string crate, std::string version, std::string& now_reply) {
        std::lock_guard g(c_mu);
        if (now_reply = remote_down_reply(); !now_reply.empty()) return false;
        if (auto it = negative.find(k1); it != negative.end()) {
            if (Clock::now() - it->second < opt.negative_cache) {
                ipc::Message m;
                m.set_bool("ok", true);
                m.set("found", std::int64_t(0));
                m.set_bool("cached", true);
                now_reply = m.to_json();
                return false;
            }
            negative.erase(it);
        }
        auto& w = waiting[k1];
        w.push_back(conn);
        if (w.size() == 1) { // one download per key however many wrappers ask
            checks.push_back({k1, std::move(crate), std::move(version)});
            c_cv.notify_one();
        }
        return true;
    }

    // ---------------- prefetch ----------------

    struct Package {
        std::string name, version;
        std::vector<std::string> deps;
    };

    // The workspace's dependency graph from `cargo metadata`, dependencies first.
    Result<std::vector<std::pair<std::string, std::string>>> graph(const std::string& root) {
        fs::path dir = root;
        while (!dir.empty() && !fs::exists(dir / "Cargo.toml")) {
            if (dir == dir.parent_path()) return fail(ErrorKind::not_found, "no Cargo.toml at or above " + root);
            dir = dir.parent_path();
        }
        // In the workspace's directory: cargo reads .cargo/config.toml (source
        // replacement, offline registries) from the working directory up, not
        // from the manifest's.
        auto run = util::run_capture({"/bin/sh", "-c",
                                      "cd \"$1\" && exec cargo metadata --format-version 1 --offline --manifest-path "
                                      "\"$1/Cargo.toml\"",
                                      "sh", dir.string()});
        if (!run || run->exit_code != 0) {
            std::string why = run ? run->err : run.error().message;
            if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
            return fail(ErrorKind::unsupported, "cargo metadata failed in " + dir.string() + (why.empty() ? "" : ": " + why));
        }
        simdjson::dom::parser p;
        simdjson::padded_string json(run->out);
        simdjson::dom::element doc;
        if (p.parse(json).get(doc)) return fail(ErrorKind::invalid_input, "cargo metadata printed invalid JSON");
        std::map<std::string, Package> pkgs;
        simdjson::dom::array packages;
        if (doc["packages"].get_array().get(packages)) return fail(ErrorKind::invalid_input, "cargo metadata: no packages");
        for (auto pkg : packages) {
            std::string_view id, name, version;
            if (pkg["id"].get_string().get(id) || pkg["name"].get_string().get(name) ||
                pkg["version"].get_string().get(version))
                continue;
            pkgs[std::string(id)] = {std::string(name), std::string(version), {}};
        }
        simdjson::dom::array nodes;
        if (!doc["resolve"]["nodes"].get_array().get(nodes)) {
            for (auto node : nodes) {
                std::string_view id;
                if (node["id"].get_string().get(id)) continue;
                auto it = pkgs.find(std::string(id));
                if (it == pkgs.end()) continue;
                simdjson::dom::array deps;
                if (node["dependencies"].get_array().get(deps)) continue;
                for (auto d : deps) {
                    std::string_view dep;
                    if (!d.get_string().get(dep)) it->second.deps.emplace_back(dep);
                }
            }
        }
        // Depth-first post-order: every package after its dependencies.
        std::vector<std::pair<std::string, std::string>> order;
        std::set<std::string> done;
        std::function<void(const std::string&, int)> visit = [&](const std::string& id, int depth) {
            if (depth > 512 || !done.insert(id).second) return;
            auto it = pkgs.find(id);
            if (it == pkgs.end()) return;
            for (auto& d : it->second.deps) visit(d, depth + 1);
            order.emplace_back(it->second.name, it->second.version);
        };
        for (auto& [id, _] : pkgs) visit(id, 0);
        return order;
    }

    // Imports what the remote has for one package version; returns (entries, bytes).
    std::pair<std::size_t, std::uint64_t> prefetch_package(remote::RemoteBackend& be, const std::string& name,
                                                          const std::string& version) {
        std::size_t count = 0;
        std::uint64_t bytes = 0;
        auto objects = be.list(remote::crate_manifest_prefix(name) + remote::key_safe(version) + "/");
        if (!objects) {
            error("prefetch list of " + name + ": " + objects.error().message);
            return {0, 0};
        }
        for (auto& o : *objects) {
            auto k2 = Digest::from_hex(o.key.substr(o.key.rfind('/') + 1));
            if (!k2 || store->has_entry(*k2)) continue;
            store->set_origin(*k2, "prefetched"); // before it lands, as for checks
            auto pulled = remote::pull_entry(*store, be, o.key);
            if (!pulled) {
                if (!store->has_entry(*k2)) (void)store->take_origin(*k2);
                error("prefetch of " + o.key + ": " + pulled.error().message);
                continue;
            }
            ++count;
            ++prefetched;
            bytes += *pulled;
        }
        return {count, bytes};
    }

    void prefetch_worker() {
        while (true) {
            std::string root;
            {
                std::unique_lock lk(p_mu);
                p_cv.wait(lk, [&] { return !sessions.empty() || workers_exit; });
                if (sessions.empty()) return;
                root = sessions.front();
                sessions.pop_front();
            }
            auto t0 = Clock::now();
            auto order = graph(root);
            if (!order) {
                log.write("info", "prefetch skipped for " + root + ": " + order.error().message);
                continue;
            }
            // Several transfers at once, taking packages in dependency order, so
            // the first crates cargo compiles are the first to arrive.
            std::atomic<std::size_t> next{0}, count{0};
            std::atomic<std::uint64_t> bytes{0};
            auto work = [&] {
                auto b = backend();
                if (!b) {
                    error("prefetch: " + b.error().message);
                    return;
                }
                for (std::size_t i; (i = next++) < order->size();) {
                    if (workers_exit || count >= opt.prefetch_max_entries || bytes >= opt.prefetch_max_bytes ||
                        Clock::now() - t0 > opt.prefetch_max_time)
                        break;
                    auto [n, size] = prefetch_package(**b, (*order)[i].first, (*order)[i].second);
                    count += n;
                    bytes += size;
                }
            };
            std::vector<std::thread> pool;
            for (int w = 0; w < std::max(1, opt.prefetch_workers); ++w) pool.emplace_back(work);
            for (auto& t : pool) t.join();
            log.write("info", "prefetched " + std::to_string(count.load()) + " entries (" + util::human_bytes(bytes) +
                                  ") for " + root + " in " +
                                  std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count()) +
                                  " ms");
        }
    }

    // ---------------- the event loop ----------------

    void post_replies(const std::vector<std::uint64_t>& to, const std::string& payload) {
        {
            std::lock_guard g(reply_mu);
            for (auto id : to) replies.emplace_back(id, payload);
        }
        uv_async_send(&wake);
    }

    static void on_write(uv_write_t* req, int) {
        delete static_cast<std::string*>(req->data);
        delete req;
    }

    void write_frame(Conn* c, const std::string& payload) {
        auto* data = new std::string(ipc::encode_frame(payload));
        auto* req = new uv_write_t;
        req->data = data;
        uv_buf_t buf = uv_buf_init(data->data(), static_cast<unsigned>(data->size()));
        if (uv_write(req, reinterpret_cast<uv_stream_t*>(&c->pipe), &buf, 1, on_write) != 0) {
            delete data;
            delete req;
        }
    }

    static void on_close(uv_handle_t* h) {
        auto* c = static_cast<Conn*>(h->data);
        delete c;
    }

    void close_conn(Conn* c) {
        if (conns.erase(c->id) == 0) return;
        uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_close);
    }

    ipc::Message status_message() {
        ipc::Message m;
        m.set_bool("ok", true);
        m.set_bool("running", true);
        m.set("pid", std::int64_t(::getpid()));
        m.set("version", std::string(KACHE_VERSION));
        m.set("socket", opt.socket.string());
        m.set("log_file", opt.log_file.string());
        m.set("cache_dir", store->root().string());
        m.set("remote", have_remote ? remote_desc : std::string("none"));
        m.set("pending_uploads", std::int64_t(pending_uploads()));
        {
            std::lock_guard g(q_mu);
            m.set("uploads_in_flight", std::int64_t(uploads_in_flight));
            m.set("upload_queue", std::int64_t(queue.size() + retries.size()));
        }
        m.set("uploaded", std::int64_t(uploaded));
        m.set("upload_failures", std::int64_t(upload_failures));
        m.set("remote_checks", std::int64_t(checks_done));
        m.set("remote_checks_found", std::int64_t(checks_found));
        m.set("prefetched", std::int64_t(prefetched));
        std::lock_guard g(err_mu);
        m.set("last_error", last_error);
        return m;
    }

    // Handles one frame's payload; returns false to close the connection.
    bool handle(Conn* c, const std::string& payload) {
        simdjson::padded_string json(payload);
        simdjson::dom::element doc;
        simdjson::dom::object obj;
        if (parser.parse(json).get(doc) || doc.get_object().get(obj)) {
            write_frame(c, reply_error("malformed request: not a JSON object"));
            return true;
        }
        std::int64_t version = 0;
        std::string_view type;
        if (obj["v"].get_int64().get(version) || version != ipc::k_protocol_version) {
            write_frame(c, reply_error("unsupported protocol version (restart the daemon: kache daemon restart)"));
            return true;
        }
        if (obj["type"].get_string().get(type)) {
            write_frame(c, reply_error("malformed request: no type"));
            return true;
        }
        last_activity = Clock::now();
        auto field = [&](const char* k) -> std::string {
            std::string_view v;
            return obj[k].get_string().get(v) ? std::string() : std::string(v);
        };
        ipc::Message okm;
        okm.set_bool("ok", true);
        if (type == "ping") {
            okm.set("pid", std::int64_t(::getpid()));
            okm.set("version", std::string(KACHE_VERSION));
            write_frame(c, okm.to_json());
        } else if (type == "status") {
            write_frame(c, status_message().to_json());
        } else if (type == "upload") {
            auto k2 = Digest::from_hex(field("k2"));
            if (!k2) write_frame(c, reply_error("upload: bad k2"));
            else {
                if (have_remote && !spec.read_only) enqueue_upload(*k2);
                write_frame(c, okm.to_json());
            }
        } else if (type == "check") {
            auto k1 = Digest::from_hex(field("k1"));
            std::string crate = field("crate");
            if (!k1 || crate.empty()) write_frame(c, reply_error("check: bad k1 or crate"));
            else if (!have_remote) write_frame(c, reply_error("no remote configured"));
            else {
                std::string now;
                if (!start_check(c->id, *k1, crate, field("version"), now)) write_frame(c, now);
            }
        } else if (type == "session") {
            std::string root = field("root");
            if (root.empty() || root[0] != '/') write_frame(c, reply_error("session: root must be an absolute path"));
            else {
                if (have_remote && opt.config.prefetch) {
                    std::lock_guard g(p_mu);
                    sessions.push_back(root);
                    p_cv.notify_one();
                }
                write_frame(c, okm.to_json());
            }
        } else if (type == "stop") {
            write_frame(c, okm.to_json());
            request_stop();
        } else {
            write_frame(c, reply_error("unknown request type"));
        }
        return true;
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
        c->buf.append(buf->base, static_cast<size_t>(n));
        delete[] buf->base;
        while (c->buf.size() >= 4) {
            auto* b = reinterpret_cast<const unsigned char*>(c->buf.data());
            std::uint32_t len = b[0] | b[1] << 8 | b[2] << 16 | static_cast<std::uint32_t>(b[3]) << 24;
            if (len > ipc::k_max_frame) {
                self->write_frame(c, reply_error("frame too large"));
                self->close_conn(c);
                return;
            }
            if (c->buf.size() < 4 + len) break;
            std::string payload = c->buf.substr(4, len);
            c->buf.erase(0, 4 + len);
            if (!self->handle(c, payload)) {
                self->close_conn(c);
                return;
            }
        }
    }

    static void on_connection(uv_stream_t* server, int status) {
        auto* self = static_cast<Impl*>(server->data);
        if (status < 0) return;
        auto* c = new Conn;
        c->impl = self;
        c->id = self->next_conn++;
        uv_pipe_init(&self->loop, &c->pipe, 0);
        c->pipe.data = c;
        if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->pipe)) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c->pipe), on_close);
            return;
        }
        self->conns[c->id] = c;
        uv_read_start(reinterpret_cast<uv_stream_t*>(&c->pipe), on_alloc, on_read);
    }

    static void on_wake(uv_async_t* a) {
        auto* self = static_cast<Impl*>(a->data);
        std::vector<std::pair<std::uint64_t, std::string>> batch;
        {
            std::lock_guard g(self->reply_mu);
            batch.swap(self->replies);
        }
        for (auto& [id, payload] : batch)
            if (auto it = self->conns.find(id); it != self->conns.end()) self->write_frame(it->second, payload);
        if (self->stop_requested) self->shutdown_loop();
    }

    void request_stop() {
        stop_requested = true;
        uv_async_send(&wake);
    }

    void shutdown_loop() {
        uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sigterm), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&wake), nullptr);
        std::vector<Conn*> open;
        for (auto& [_, c] : conns) open.push_back(c);
        for (auto* c : open) close_conn(c);
    }

    static void on_signal(uv_signal_t* s, int signum) {
        auto* self = static_cast<Impl*>(s->data);
        self->log.write("info", std::string("received ") + (signum == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
        self->shutdown_loop();
    }

    static void on_tick(uv_timer_t* t) {
        auto* self = static_cast<Impl*>(t->data);
        auto now = Clock::now();
        if (self->opt.config.daemon_idle_timeout_s > 0 &&
            now - self->last_activity > std::chrono::seconds(self->opt.config.daemon_idle_timeout_s)) {
            bool idle;
            {
                std::lock_guard g(self->q_mu);
                idle = self->queue.empty() && self->uploads_in_flight == 0;
            }
            if (idle) {
                self->log.write("info", "idle timeout reached, exiting");
                self->shutdown_loop();
                return;
            }
        }
        if (!self->opt.watch_binary.empty() && self->watch_mtime != 0 &&
            file_mtime_ns(self->opt.watch_binary) > self->watch_mtime) {
            self->log.write("info", self->opt.watch_binary.string() + " changed on disk, restarting");
            self->restart = true;
            self->shutdown_loop();
            return;
        }
        if (self->have_remote && !self->spec.read_only && now - self->last_rescan > self->opt.intent_rescan) {
            self->last_rescan = now;
            self->rescan_intents();
        }
        if (now - self->last_gc > self->opt.gc_interval) {
            self->last_gc = now;
            std::thread([self] { self->run_gc(); }).detach();
        }
    }

    void run_gc() {
        auto r = store->gc(opt.config.max_size);
        if (!r) error("gc: " + r.error().message);
        else if (r->entries_removed || r->blobs_removed)
            log.write("info", "gc removed " + std::to_string(r->entries_removed) + " entries, " +
                                  std::to_string(r->blobs_removed) + " blobs (" + util::human_bytes(r->bytes_freed) + ")");
    }

    // Waits for queued and in-flight uploads, at most drain_timeout.
    void drain() {
        auto deadline = Clock::now() + opt.drain_timeout;
        std::unique_lock lk(q_mu);
        while ((!queue.empty() || uploads_in_flight > 0) && Clock::now() < deadline)
            q_cv.wait_for(lk, std::chrono::milliseconds(100));
        if (!queue.empty() || uploads_in_flight > 0)
            log.write("warn", "stopping with uploads pending; their intents stay and are replayed on the next start");
    }

    int run() {
        log.open(opt.log_file, util::env_flag("KACHE_DAEMON_FOREGROUND"));
        auto st = store::Store::open(opt.config.cache_dir);
        if (!st) {
            log.write("error", st.error().message);
            std::fprintf(stderr, "kached: %s\n", st.error().message.c_str());
            return 1;
        }
        store.emplace(std::move(*st));
        if (auto made = util::make_dirs(opt.socket.parent_path()); !made) {
            std::fprintf(stderr, "kached: %s\n", made.error().message.c_str());
            return 1;
        }
        struct stat dst {};
        if (::stat(opt.socket.parent_path().c_str(), &dst) == 0 && (dst.st_mode & 022)) {
            std::string msg = "the socket directory " + opt.socket.parent_path().string() +
                              " is writable by other users: chmod 700 it or set KACHE_SOCKET_PATH to a private directory";
            log.write("error", msg);
            std::fprintf(stderr, "kached: %s\n", msg.c_str());
            return 1;
        }
        // One daemon per socket.
        fs::path lock_path = opt.socket;
        lock_path += ".lock";
        auto lock = util::FileLock::try_acquire(lock_path);
        if (!lock) {
            std::fprintf(stderr, "kached: %s\n", lock.error().message.c_str());
            return 1;
        }
        if (!*lock) {
            log.write("info", "another daemon already serves " + opt.socket.string());
            return 0;
        }
        ::unlink(opt.socket.c_str()); // stale: we hold the lock, so nobody serves it

        remote::register_builtin_backends();
        have_remote = opt.config.remote.configured();
        spec = {opt.config.remote.url, opt.config.remote.options, opt.config.remote.read_only};
        if (have_remote) {
            auto b = backend();
            if (!b) {
                error("remote: " + b.error().message);
                have_remote = false;
            } else remote_desc = (*b)->describe();
        }
        watch_mtime = opt.watch_binary.empty() ? 0 : file_mtime_ns(opt.watch_binary);

        uv_loop_init(&loop);
        uv_pipe_init(&loop, &server, 0);
        server.data = this;
        int rc = uv_pipe_bind(&server, opt.socket.c_str());
        if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&server), 256, on_connection);
        if (rc != 0) {
            std::string msg = "cannot listen on " + opt.socket.string() + ": " + uv_strerror(rc);
            log.write("error", msg);
            std::fprintf(stderr, "kached: %s\n", msg.c_str());
            uv_close(reinterpret_cast<uv_handle_t*>(&server), nullptr);
            uv_run(&loop, UV_RUN_DEFAULT);
            uv_loop_close(&loop);
            return 1;
        }
        ::chmod(opt.socket.c_str(), 0600);
        uv_async_init(&loop, &wake, on_wake);
        wake.data = this;
        uv_timer_init(&loop, &tick);
        tick.data = this;
        uv_timer_start(&tick, on_tick, 1000, 1000);
        uv_signal_init(&loop, &sigterm);
        sigterm.data = this;
        uv_signal_start(&sigterm, on_signal, SIGTERM);
        uv_signal_init(&loop, &sigint);
        sigint.data = this;
        uv_signal_start(&sigint, on_signal, SIGINT);
        ::signal(SIGPIPE, SIG_IGN);

        // Replay intents left by a previous daemon (or written while none ran).
        if (have_remote && !spec.read_only)
            for (auto& d : store->upload_intents()) enqueue_upload(d);
        for (int i = 0; i < opt.upload_workers; ++i) threads.emplace_back([this] { upload_worker(); });
        for (int i = 0; i < opt.check_workers; ++i) threads.emplace_back([this] { check_worker(); });
        threads.emplace_back([this] { prefetch_worker(); });
        std::thread([this] { run_gc(); }).detach();

        log.write("info", "kached " + std::string(KACHE_VERSION) + " serving " + opt.socket.string() + " (pid " +
                              std::to_string(::getpid()) + ", remote " + (have_remote ? remote_desc : "none") + ")");
        uv_run(&loop, UV_RUN_DEFAULT);
        ::unlink(opt.socket.c_str());
        drain();
        {
            std::lock_guard g1(q_mu), g2(c_mu), g3(p_mu);
            workers_exit = true;
        }
        q_cv.notify_all();
        c_cv.notify_all();
        p_cv.notify_all();
        for (auto& t : threads) t.join();
        uv_loop_close(&loop);
        log.write("info", restart ? "restarting" : "stopped");
        if (restart && !opt.restart_argv.empty()) {
            lock->reset();
            // The binary may be mid-replacement (a build relinking it): retry briefly.
            Error e;
            for (int attempt = 0; attempt < 20; ++attempt) {
                e = util::exec_replace(opt.restart_argv);
                std::this_thread::sleep_for(std::chrono::milliseconds(500));
            }
            log.write("error", "cannot restart: " + e.message);
            return 1;
        }
        return 0;
    }
};

Daemon::Daemon(Options options) : impl_(std::make_unique<Impl>()) { impl_->opt = std::move(options); }
Daemon::~Daemon() = default;
int Daemon::run() { return impl_->run(); }

Result<ipc::Message> query_status(const fs::path& socket, std::chrono::milliseconds timeout) {
    auto c = ipc::Client::connect(socket, timeout);
    if (!c) return std::unexpected(c.error());
    return c->call(ipc::Request::status(), timeout);
}

Result<int> start_background(const fs::path& socket, const std::vector<std::string>& argv, const fs::path& log_file,
                             std::chrono::milliseconds timeout) {
    if (auto s = query_status(socket, std::chrono::milliseconds(500)); s) return static_cast<int>(s->num("pid").value_or(0));
    pid_t pid = ::fork();
    if (pid < 0) return fail(ErrorKind::io, std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::setsid();
        if (::fork() != 0) ::_exit(0); // the grandchild is adopted by init: no zombie for the caller
        int null = ::open("/dev/null", O_RDWR);
        (void)util::make_dirs(log_file.parent_path());
        int logfd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0600);
        ::dup2(null, 0);
        ::dup2(logfd >= 0 ? logfd : null, 1);
        ::dup2(logfd >= 0 ? logfd : null, 2);
        // Keep nothing else of the starter's: a wrapper's jobserver pipe or a
        // test harness's output pipe held open by a long-lived daemon makes
        // whoever waits for its EOF wait for the daemon.
        if (::close_range(3, ~0U, 0) != 0)
            for (int fd = 3; fd < 1024; ++fd) ::close(fd);
        util::exec_replace(argv);
        ::_exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (auto s = query_status(socket, std::chrono::milliseconds(200)); s)
            return static_cast<int>(s->num("pid").value_or(0));
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return fail(ErrorKind::timeout, "the daemon did not answer on " + socket.string() + " within " +
                                        std::to_string(timeout.count()) + " ms (see " + log_file.string() + ")");
}

Result<void> stop(const fs::path& socket, std::chrono::milliseconds timeout) {
    auto c = ipc::Client::connect(socket, std::chrono::milliseconds(500));
    if (!c) return std::unexpected(c.error());
    auto status = c->call(ipc::Request::status(), std::chrono::milliseconds(2000));
    pid_t pid = status ? static_cast<pid_t>(status->num("pid").value_or(0)) : 0;
    auto reply = c->call(ipc::Request::stop(), std::chrono::milliseconds(2000));
    if (!reply) return std::unexpected(reply.error());
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        bool gone = pid > 0 ? ::kill(pid, 0) != 0 : !query_status(socket, std::chrono::milliseconds(100));
        if (gone) return ok();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return fail(ErrorKind::timeout, "the daemon did not stop within " + std::to_string(timeout.count()) + " ms");
}

} // namespace kache::daemon
