// The daemon's background scrub of the store's blobs (see scrub.hpp).
#include "scrub.hpp"

#include <kache/util/fs.hpp>

#include <algorithm>
#include <ctime>
#include <vector>

namespace kache::daemon {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// The file in the store root that says where the walk got to: "at <blob hex>" (the last
// blob checked in the pass under way) or "done <unix seconds>" (when the last pass ended).
constexpr const char* k_position_file = "scrub-position";
constexpr std::uint64_t k_max_position_bytes = 128;

struct Position {
    std::string after;      // resume after this blob name ("" = from the start)
    std::time_t done_at = 0; // when the last full pass ended (0 = none yet)
};

// The file is ours, but still untrusted: anything malformed means "start from the beginning".
Position parse_position(const std::string& text) {
    Position p;
    if (text.rfind("at ", 0) == 0) {
        std::string hex = text.substr(3);
        while (!hex.empty() && (hex.back() == '\n' || hex.back() == ' ')) hex.pop_back();
        if (hash::Digest::from_hex(hex)) p.after = hex;
    } else if (text.rfind("done ", 0) == 0) {
        char* end = nullptr;
        long long t = std::strtoll(text.c_str() + 5, &end, 10);
        if (end != text.c_str() + 5 && t > 0) p.done_at = static_cast<std::time_t>(t);
    }
    return p;
}

std::vector<std::string> sorted_names(const fs::path& dir, bool dirs) {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::error_code ec2;
        if (it->is_directory(ec2) != dirs || it->is_symlink(ec2)) continue;
        out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

Scrubber::Scrubber(store::Store& store, Log& log, ScrubSettings settings)
    : store_(store), log_(log), settings_(settings) {}

Scrubber::~Scrubber() { stop(); }

void Scrubber::start() {
    if (settings_.rate == 0 || thread_.joinable()) return;
    thread_ = std::thread([this] { run(); });
}

void Scrubber::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool Scrubber::pause(Clock::duration d) {
    std::unique_lock lock(mu_);
    return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool Scrubber::pace(std::uint64_t bytes) {
    window_bytes_ += bytes;
    auto due = window_start_ + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(double(window_bytes_) / double(settings_.rate)));
    auto now = Clock::now();
    if (now < due) return pause(due - now);
    // Behind (a slow disk): do not catch up in a burst later.
    if (now - due > std::chrono::seconds(1)) {
        window_start_ = now;
        window_bytes_ = 0;
    }
    std::lock_guard lock(mu_);
    return !stopping_;
}

void Scrubber::save(const std::string& text) {
    fs::path p = store_.root() / k_position_file;
    if (auto w = util::write_file_atomic(p, text, store_.tmp_dir(), 0600); !w)
        log_.debug("scrub: cannot save where it got to: " + w.error().message);
}

void Scrubber::scrub_one(const hash::Digest& d) {
    auto intact = store::blob_is_intact(store_, d, [this](std::uint64_t n) { return pace(n); });
    if (intact && *intact) {
        ++checked_;
        return;
    }
    if (!intact && intact.error().kind != ErrorKind::corrupt) {
        // Gone (GC), stopped, or unreadable: nothing to conclude.
        if (intact.error().kind == ErrorKind::io) log_.warn("scrub: " + intact.error().message);
        return;
    }
    ++checked_;
    ++corrupt_;
    auto crates = store::remove_corrupt_blob(store_, d);
    std::string names;
    for (auto& c : crates) names += (names.empty() ? "" : ", ") + c;
    log_.warn("scrub: blob " + d.hex() + " was corrupt (" +
              (intact ? std::string("its content does not match its name") : intact.error().message) + "); removed it" +
              (crates.empty() ? std::string() : " and the entries of " + names + ", which recompile on their next build"));
}

void Scrubber::run() {
    auto text = util::read_file_bounded(store_.root() / k_position_file, k_max_position_bytes);
    Position pos = text ? parse_position(*text) : Position{};
    while (true) {
        if (pos.done_at != 0) {
            std::time_t next = pos.done_at + static_cast<std::time_t>(settings_.pass_interval.count());
            std::time_t now = std::time(nullptr);
            if (now < next && now >= pos.done_at) {
                // Wake at least hourly: the clock may have been set.
                if (!pause(std::min<std::chrono::seconds>(std::chrono::seconds(next - now), std::chrono::hours(1)))) return;
                continue;
            }
            pos = Position{};
        }
        log_.info(pos.after.empty() ? "scrub: pass started" : "scrub: pass resumed after blob " + pos.after);
        window_start_ = Clock::now();
        window_bytes_ = 0;
        auto last_save = Clock::now();
        fs::path blobs = store_.root() / "blobs";
        std::string shard_from = pos.after.substr(0, 2);
        for (auto& shard : sorted_names(blobs, true)) {
            if (shard.size() != 2 || shard < shard_from) continue;
            for (auto& file : sorted_names(blobs / shard, false)) {
                std::string name = shard + file;
                if (name <= pos.after) continue;
                auto d = hash::Digest::from_hex(name);
                if (!d) continue; // not a blob: `kache doctor` reports it
                if (!pace(k_scrub_min_blob_cost)) return save("at " + pos.after + "\n");
                scrub_one(*d);
                {
                    std::lock_guard lock(mu_);
                    if (stopping_) break; // the blob may be half read: check it again next time
                }
                pos.after = name;
                if (Clock::now() - last_save > k_scrub_save_interval) {
                    save("at " + pos.after + "\n");
                    last_save = Clock::now();
                }
            }
            std::lock_guard lock(mu_);
            if (stopping_) break;
        }
        {
            std::lock_guard lock(mu_);
            if (stopping_) {
                if (!pos.after.empty()) save("at " + pos.after + "\n");
                return;
            }
        }
        pos = Position{"", std::time(nullptr)};
        save("done " + std::to_string(static_cast<long long>(pos.done_at)) + "\n");
        log_.info("scrub: pass done (" + std::to_string(checked_.load()) + " blobs checked since start, " +
                  std::to_string(corrupt_.load()) + " corrupt)");
    }
}

} // namespace kache::daemon
