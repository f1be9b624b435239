#include <kache/events.hpp>
#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace kache::events {

namespace fs = std::filesystem;

namespace {

void json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(c));
        } else if (c < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else out.push_back(static_cast<char>(c));
    }
    out.push_back('"');
}

// A parser for the flat objects this module writes: string and integer values only.
struct FlatParser {
    std::string_view s;
    size_t i = 0;
    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    }
    bool eat(char c) {
        ws();
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    }
    std::optional<std::string> str() {
        if (!eat('"')) return std::nullopt;
        std::string out;
        while (i < s.size() && s[i] != '"') {
            if (s[i] == '\\') {
                if (++i >= s.size()) return std::nullopt;
                char c = s[i];
                if (c == 'u') {
                    if (i + 4 >= s.size()) return std::nullopt;
                    unsigned v = 0;
                    auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 5, v, 16);
                    if (ec != std::errc() || p != s.data() + i + 5) return std::nullopt;
                    out.push_back(static_cast<char>(v < 0x80 ? v : '?'));
                    i += 4;
                } else if (c == 'n') out.push_back('\n');
                else if (c == 't') out.push_back('\t');
                else out.push_back(c);
            } else out.push_back(s[i]);
            ++i;
        }
        if (i >= s.size()) return std::nullopt;
        ++i;
        return out;
    }
    std::optional<std::int64_t> integer() {
        ws();
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(s.data() + i, s.data() + s.size(), v);
        if (ec != std::errc()) return std::nullopt;
        i = static_cast<size_t>(p - s.data());
        return v;
    }
};

} // namespace

std::string to_json(const Event& e) {
    std::string out = "{\"ts_ms\":" + std::to_string(e.ts_ms) + ",\"pid\":" + std::to_string(e.pid) + ",\"crate\":";
    json_string(out, e.crate);
    out += ",\"outcome\":";
    json_string(out, e.outcome);
    out += ",\"source\":";
    json_string(out, e.source);
    out += ",\"wrapper_us\":" + std::to_string(e.wrapper_us) + ",\"compile_us\":" + std::to_string(e.compile_us) +
           ",\"saved_ms\":" + std::to_string(e.saved_ms) + ",\"bytes\":" + std::to_string(e.bytes) + ",\"reason\":";
    json_string(out, e.reason);
    out += "}";
    return out;
}

std::optional<Event> from_json(std::string_view line) {
    FlatParser p{line};
    if (!p.eat('{')) return std::nullopt;
    Event e;
    bool first = true;
    while (true) {
        if (p.eat('}')) break;
        if (!first && !p.eat(',')) return std::nullopt;
        first = false;
        auto key = p.str();
        if (!key || !p.eat(':')) return std::nullopt;
        p.ws();
        if (p.i < line.size() && line[p.i] == '"') {
            auto v = p.str();
            if (!v) return std::nullopt;
            if (*key == "crate") e.crate = *v;
            else if (*key == "outcome") e.outcome = *v;
            else if (*key == "source") e.source = *v;
            else if (*key == "reason") e.reason = *v;
        } else {
            auto v = p.integer();
            if (!v) return std::nullopt;
            if (*key == "ts_ms") e.ts_ms = *v;
            else if (*key == "pid") e.pid = *v;
            else if (*key == "wrapper_us") e.wrapper_us = *v;
            else if (*key == "compile_us") e.compile_us = *v;
            else if (*key == "saved_ms") e.saved_ms = *v;
            else if (*key == "bytes") e.bytes = static_cast<std::uint64_t>(*v);
        }
    }
    if (e.outcome.empty()) return std::nullopt;
    return e;
}

void append(const fs::path& dir, const Event& e) {
    std::string line = to_json(e) + "\n";
    fs::path file = dir / "events.jsonl";
    int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (!util::make_dirs(dir)) return;
        fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) return;
    }
    util::UniqueFd owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > k_rotate_bytes) {
        // Rename is atomic: concurrent appenders land in one file or the other.
        fs::path rotated = dir / ("events-" + std::to_string(util::now_ns() / 1000000) + ".jsonl");
        ::rename(file.c_str(), rotated.c_str());
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

void clear(const fs::path& dir) {
    std::error_code ec;
    for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
        if (it->path().filename().string().ends_with(".jsonl")) fs::remove(it->path(), ec);
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
