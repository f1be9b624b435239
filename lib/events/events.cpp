#include <kache/events.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>

namespace kache::events {

namespace fs = std::filesystem;

std::string to_json(const Event& e) {
    std::string out = "{\"ts_ms\":" + std::to_string(e.ts_ms) + ",\"pid\":" + std::to_string(e.pid) + ",\"crate\":";
    util::append_json_string(out, e.crate);
    out += ",\"outcome\":";
    util::append_json_string(out, e.outcome);
    out += ",\"source\":";
    util::append_json_string(out, e.source);
    out += ",\"wrapper_us\":" + std::to_string(e.wrapper_us) + ",\"compile_us\":" + std::to_string(e.compile_us) +
           ",\"saved_ms\":" + std::to_string(e.saved_ms) + ",\"bytes\":" + std::to_string(e.bytes) + ",\"reason\":";
    util::append_json_string(out, e.reason);
    out += ",\"session\":";
    util::append_json_string(out, e.session);
    out += ",\"start_us\":" + std::to_string(e.start_us) + ",\"key\":";
    util::append_json_string(out, e.key);
    out += ",\"miss_reason\":";
    util::append_json_string(out, e.miss_reason);
    out += "}";
    return out;
}

std::int64_t Event::duration_us() const {
    return std::clamp<std::int64_t>(wrapper_us, 0, k_max_unit_us) + std::clamp<std::int64_t>(compile_us, 0, k_max_unit_us);
}

std::int64_t Event::begin_us() const {
    // Clamped so that begin + duration cannot overflow, whatever a line says.
    if (start_us > 0) return std::min(start_us, k_max_time_us);
    return std::clamp<std::int64_t>(ts_ms, 0, k_max_time_us / 1000) * 1000 - duration_us();
}

std::optional<Event> from_json(std::string_view line) {
    auto obj = util::parse_flat_json(line);
    if (!obj) return std::nullopt;
    Event e;
    auto text = [&](const char* k) -> std::string {
        auto it = obj->find(k);
        return it == obj->end() || it->second.kind != util::JsonScalar::Kind::string ? std::string() : it->second.text;
    };
    auto number = [&](const char* k) -> std::int64_t {
        auto it = obj->find(k);
        if (it == obj->end() || it->second.kind != util::JsonScalar::Kind::number) return 0;
        std::int64_t v = 0;
        std::from_chars(it->second.text.data(), it->second.text.data() + it->second.text.size(), v);
        return v;
    };
    e.crate = text("crate");
    e.outcome = text("outcome");
    e.source = text("source");
    e.reason = text("reason");
    e.session = text("session");
    e.key = text("key");
    e.miss_reason = text("miss_reason");
    e.start_us = number("start_us");
    e.ts_ms = number("ts_ms");
    e.pid = number("pid");
    e.wrapper_us = number("wrapper_us");
    e.compile_us = number("compile_us");
    e.saved_ms = number("saved_ms");
    e.bytes = static_cast<std::uint64_t>(number("bytes"));
    if (e.outcome.empty()) return std::nullopt;
    return e;
}

void append(const fs::path& dir, const Event& e) {
    std::string line = to_json(e) + "\n";
    fs::path file = dir / "events.jsonl";
    int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
    if (fd < 0) {
        // Only a missing directory is worth creating; anything else (no access,
        // not a directory) means no log this time.
        if (errno != ENOENT || !util::make_private_dirs(dir)) return;
        fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
        if (fd < 0) return;
    }
    util::UniqueFd owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > k_rotate_bytes) {
        // Rename is atomic: concurrent appenders land in one file or the other.
        fs::path rotated = dir / ("events-" + std::to_string(util::now_ns() / 1000000) + ".jsonl");
        if (::rename(file.c_str(), rotated.c_str()) == 0) prune_rotated(dir);
    }
    util::write_all(fd, line);
}

std::vector<Event> read_all(const fs::path& dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        auto name = it->path().filename().string();
        if (name.ends_with(".jsonl")) files.push_back(it->path());
    }
    // events-<ms>.jsonl sort before events.jsonl ('-' < '.'), oldest first.
    std::sort(files.begin(), files.end());
    std::vector<Event> out;
    for (auto& f : files) {
        auto text = util::read_file(f);
        if (!text) continue;
        size_t pos = 0;
        while (pos < text->size()) {
            size_t end = text->find('\n', pos);
            if (end == std::string::npos) end = text->size();
            if (auto e = from_json(std::string_view(*text).substr(pos, end - pos))) out.push_back(std::move(*e));
            pos = end + 1;
        }
    }
    return out;
}

void prune_rotated(const fs::path& dir, std::size_t keep) {
    std::vector<fs::path> rotated;
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        auto name = it->path().filename().string();
        if (name.starts_with("events-") && name.ends_with(".jsonl")) rotated.push_back(it->path());
    }
    std::sort(rotated.begin(), rotated.end()); // the names carry their time: oldest first
    for (std::size_t i = 0; i + keep < rotated.size(); ++i) fs::remove(rotated[i], ec);
}

void clear(const fs::path& dir) {
    std::error_code ec;
    std::error_code removed; // one file that cannot go does not end the walk
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        if (it->path().filename().string().ends_with(".jsonl")) fs::remove(it->path(), removed);
}

Summary summarize(const std::vector<Event>& events) {
    Summary s;
    for (auto& e : events) {
        if (e.outcome == "hit") {
            ++s.hits;
            s.time_saved_ms += e.saved_ms;
            s.bytes_restored += e.bytes;
            if (e.source == "remote") ++s.remote_hits;
            else if (e.source == "prefetched") ++s.prefetched_hits;
            else ++s.local_hits;
        } else if (e.outcome == "miss") ++s.misses;
        else if (e.outcome == "passthrough") ++s.passthroughs;
        else if (e.outcome == "error") ++s.errors;
    }
    return s;
}

} // namespace kache::events
