#include <kache/events/live.hpp>
#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace kache::events {

namespace fs = std::filesystem;

LogFollower::LogFollower(fs::path dir, bool from_start) : file_(std::move(dir) / "events.jsonl") {
    reopen(!from_start);
}

LogFollower::~LogFollower() {
    if (fd_ >= 0) ::close(fd_);
}

void LogFollower::reopen(bool at_end) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    inode_ = 0;
    partial_.clear();
    skipping_ = false;
    if (fd_ < 0) return;
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd_);
        fd_ = -1;
        return;
    }
    inode_ = st.st_ino;
    if (at_end) ::lseek(fd_, 0, SEEK_END);
}

void LogFollower::read_from(int fd, std::vector<Event>& out, std::size_t& budget) {
    char buf[64 * 1024];
    while (budget > 0) {
        ssize_t n = ::read(fd, buf, std::min(sizeof buf, budget));
        if (n <= 0) return;
        budget -= static_cast<std::size_t>(n);
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        while (!chunk.empty()) {
            auto nl = chunk.find('\n');
            std::string_view piece = chunk.substr(0, nl);
            if (!skipping_) {
                if (partial_.size() + piece.size() > k_follow_line_limit) {
                    skipping_ = true;
                    partial_.clear();
                } else {
                    partial_.append(piece);
                }
            }
            if (nl == std::string_view::npos) break;
            if (!skipping_)
                if (auto e = from_json(partial_)) out.push_back(std::move(*e));
            partial_.clear();
            skipping_ = false;
            chunk.remove_prefix(nl + 1);
        }
    }
}

std::vector<Event> LogFollower::poll() {
    std::vector<Event> out;
    std::size_t budget = k_follow_read_limit;
    if (fd_ >= 0) read_from(fd_, out, budget);
    // Rotation renames the file: our descriptor still reads the old one, which is
    // finished above; then the new file is followed from its start.
    struct stat st {};
    if (::stat(file_.c_str(), &st) == 0 && (fd_ < 0 || st.st_ino != inode_) && budget > 0) {
        reopen(/*at_end=*/false);
        if (fd_ >= 0) read_from(fd_, out, budget);
    }
    return out;
}

void LiveView::add(const Event& e) {
    // A pause starts a new session: the view shows the current build only.
    if (since_ms_ == 0 && !events_.empty() && e.ts_ms - events_.back().ts_ms >= k_session_gap_ms) events_.clear();
    events_.push_back(e);
    while (!events_.empty() && (events_.size() > k_view_max_events ||
                                (since_ms_ > 0 && events_.front().ts_ms < e.ts_ms - since_ms_)))
        events_.pop_front();
}

LiveSnapshot LiveView::snapshot(std::int64_t now_ms) const {
    LiveSnapshot s;
    std::int64_t from = since_ms_ > 0 ? now_ms - since_ms_ : 0;
    std::vector<Event> window;
    for (auto& e : events_)
        if (e.ts_ms >= from) window.push_back(e);
    s.counts = summarize(window);
    s.units = window.size();
    if (!window.empty()) {
        s.first_ms = window.front().ts_ms;
        s.last_ms = window.back().ts_ms;
    }
    std::uint64_t recent = 0;
    for (auto& e : window)
        if (e.ts_ms > now_ms - k_rate_window_ms) ++recent;
    s.rate_now = double(recent) * 1000.0 / double(k_rate_window_ms);
    auto cost = [](const Event& e) { return e.compile_us + e.wrapper_us; };
    std::vector<Event> sorted = window;
    std::size_t keep = std::min(k_slowest_kept, sorted.size());
    std::partial_sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(keep), sorted.end(),
                      [&](const Event& a, const Event& b) { return cost(a) > cost(b); });
    sorted.resize(keep);
    s.slowest = std::move(sorted);
    return s;
}

} // namespace kache::events
