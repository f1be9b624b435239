// kache monitor: a live view of the current build (a snapshot when stdout is not a terminal).
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/events/live.hpp>
#include <kache/ipc.hpp>
#include <kache/util/fs.hpp>

#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <ctime>

namespace kache::app {

namespace {

// The screen is redrawn this often; the store is re-measured less often (a walk).
constexpr int k_refresh_ms = 500;
constexpr std::int64_t k_store_refresh_ms = 5'000;
// The daemon is given this long to answer a status request.
constexpr auto k_daemon_timeout = std::chrono::milliseconds(300);

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) { g_stop = 1; }

cli::Spec make_spec() {
    return {
        .command = "kache monitor",
        .summary = "A live view of the current build: units per second, hits / misses / remote, the slowest\n"
                   "units, the daemon and its upload queue, the store size. q quits. When stdout is not a\n"
                   "terminal it prints one snapshot and exits.",
        .options = {{"--since", "DUR", "summarize the last DUR (90s, 15m, 2h) instead of the current build session"}},
        .details = "The current build session is the events after the last pause of 30 s or more.",
    };
}

// Raw keyboard input and a hidden cursor for as long as the view runs; restored on
// every way out (return, exception, SIGINT/SIGTERM through the loop's flag).
class TerminalMode {
public:
    TerminalMode() {
        if (::tcgetattr(0, &saved_) == 0) {
            termios raw = saved_;
            raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
        }
        std::fputs("\033[?25l", stdout);
    }
    ~TerminalMode() {
        std::fputs("\033[?25h\n", stdout);
        std::fflush(stdout);
        if (active_) ::tcsetattr(0, TCSANOW, &saved_);
    }
    TerminalMode(const TerminalMode&) = delete;
    TerminalMode& operator=(const TerminalMode&) = delete;

private:
    termios saved_{};
    bool active_ = false;
};

std::string clock_time(std::int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
    return buf;
}

std::string daemon_line(const config::Config& cfg) {
    auto c = ipc::Client::connect(cfg.effective_socket_path(), std::chrono::milliseconds(100));
    if (!c) return "not running";
    auto r = c->call(ipc::Request::status(), k_daemon_timeout);
    if (!r) return "not answering";
    auto s = ipc::StatusReply::from(*r);
    if (!s) return "not answering";
    char buf[512];
    std::snprintf(buf, sizeof buf, "running (pid %lld, %s); uploads queued %lld, in flight %lld, done %lld, failed %lld; remote %s",
                  (long long)s->pid, s->version.c_str(), (long long)s->upload_queue, (long long)s->uploads_in_flight,
                  (long long)s->uploaded, (long long)s->upload_failures, s->remote.c_str());
    return buf;
}

std::string render(const events::LiveSnapshot& s, const std::string& daemon, const store::Usage& usage,
                   std::int64_t now_ms, bool live) {
    std::string out;
    char line[512];
    auto add = [&](const char* text) {
        out += text;
        out += live ? "\033[K\n" : "\n"; // clear what a longer line left behind
    };
    std::snprintf(line, sizeof line, "kache monitor%s  %s", live ? " (q quits)" : "", clock_time(now_ms).c_str());
    add(line);
    if (s.units == 0) {
        add("build     no units yet");
    } else {
        double span = double(std::max<std::int64_t>(s.last_ms - s.first_ms, 1)) / 1000.0;
        std::snprintf(line, sizeof line, "build     since %s: %llu units in %.1f s, %.1f/s now, %.1f/s on average",
                      clock_time(s.first_ms).c_str(), (unsigned long long)s.units, span, s.rate_now,
                      double(s.units) / std::max(span, 1.0));
        add(line);
    }
    const auto& c = s.counts;
    std::snprintf(line, sizeof line, "hits      %llu (local %llu, prefetched %llu, remote %llu)   misses %llu   "
                  "passthroughs %llu   errors %llu",
                  (unsigned long long)c.hits, (unsigned long long)c.local_hits, (unsigned long long)c.prefetched_hits,
                  (unsigned long long)c.remote_hits, (unsigned long long)c.misses, (unsigned long long)c.passthroughs,
                  (unsigned long long)c.errors);
    add(line);
    std::snprintf(line, sizeof line, "hit rate  %.1f %%   time saved %.1f s", 100.0 * c.hit_rate(),
                  double(c.time_saved_ms) / 1000.0);
    add(line);
    add(s.slowest.empty() ? "slowest   none yet" : "slowest");
    for (auto& e : s.slowest) {
        std::snprintf(line, sizeof line, "  %-32.32s %-6s %8.2f s%s", e.crate.c_str(), e.outcome.c_str(),
                      double(e.compile_us + e.wrapper_us) / 1e6,
                      e.outcome == "hit" ? (" (" + e.source + ")").c_str() : "");
        add(line);
    }
    std::snprintf(line, sizeof line, "daemon    %s", daemon.c_str());
    add(line);
    std::snprintf(line, sizeof line, "store     %s in %llu blobs, %llu entries", util::human_bytes(usage.blob_bytes).c_str(),
                  (unsigned long long)usage.blobs, (unsigned long long)usage.entries);
    add(line);
    return out;
}

std::int64_t now_ms() { return util::now_ns() / 1'000'000; }

} // namespace

int cmd_monitor(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    std::int64_t since_ms = 0;
    if (auto v = args->value("--since")) {
        auto d = cli::parse_duration(*v);
        if (!d) return cli::usage_error(spec, "--since: " + d.error());
        since_ms = std::max<std::int64_t>(d->count() * 1000, 1);
    }
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto& [cfg, store] = *opened;

    events::LiveView view(since_ms);
    events::LogFollower follower(store.events_dir(), /*from_start=*/true);
    // The log so far, in bounded polls, so the view starts with the build already running.
    for (auto batch = follower.poll(); !batch.empty(); batch = follower.poll())
        for (auto& e : batch) view.add(e);

    bool live = ::isatty(1) && ::isatty(0);
    if (!live) {
        std::fputs(render(view.snapshot(now_ms()), daemon_line(cfg), store.usage(), now_ms(), false).c_str(), stdout);
        return 0;
    }
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    ::sigaction(SIGHUP, &sa, nullptr);
    TerminalMode mode;
    store::Usage usage = store.usage();
    std::int64_t usage_at = now_ms();
    std::fputs("\033[H\033[2J", stdout);
    while (!g_stop) {
        for (auto& e : follower.poll()) view.add(e);
        std::int64_t now = now_ms();
        if (now - usage_at >= k_store_refresh_ms) {
            usage = store.usage();
            usage_at = now;
        }
        std::string screen = "\033[H" + render(view.snapshot(now), daemon_line(cfg), usage, now, true) + "\033[J";
        std::fputs(screen.c_str(), stdout);
        std::fflush(stdout);
        pollfd in{0, POLLIN, 0};
        if (::poll(&in, 1, k_refresh_ms) > 0) {
            char key = 0;
            if (::read(0, &key, 1) == 1 && (key == 'q' || key == 'Q')) break;
            if (in.revents & (POLLHUP | POLLERR)) break;
        }
    }
    return 0;
}

} // namespace kache::app
