// Access objects: which packs each machine used each day (kache/remote/access_log.hpp).
#include <kache/remote/access_log.hpp>
#include <kache/remote/layout.hpp>
#include <kache/util/fs.hpp>

#include "open_object.hpp"

#include <sys/random.h>

#include <ctime>

namespace kache::remote {

namespace {

inline constexpr std::int64_t k_seconds_per_day = 86400;
// "YYYY-MM-DD"
inline constexpr std::size_t k_day_text_chars = 10;

bool is_lower_hex(std::string_view s) {
    for (char c : s)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
}

bool valid_machine(std::string_view m) { return m.size() == k_machine_id_chars && is_lower_hex(m); }

Result<std::string> new_machine_id() {
    unsigned char raw[k_machine_id_chars / 2];
    if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw))
        return fail(ErrorKind::io, "cannot draw a random machine id");
    static constexpr char k_hex[] = "0123456789abcdef";
    std::string id;
    for (unsigned char b : raw) {
        id += k_hex[b >> 4];
        id += k_hex[b & 15];
    }
    return id;
}

} // namespace

std::int64_t day_number(SystemTime t) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    return s < 0 ? 0 : s / k_seconds_per_day;
}

std::string day_text(std::int64_t day) {
    std::time_t t = static_cast<std::time_t>(day) * k_seconds_per_day;
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
    return buf;
}

std::optional<std::int64_t> parse_day_text(std::string_view text) {
    if (text.size() != k_day_text_chars || text[4] != '-' || text[7] != '-') return std::nullopt;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
        if (text[i] < '0' || text[i] > '9') return std::nullopt;
    std::tm tm{};
    tm.tm_year = std::stoi(std::string(text.substr(0, 4))) - 1900;
    tm.tm_mon = std::stoi(std::string(text.substr(5, 2))) - 1;
    tm.tm_mday = std::stoi(std::string(text.substr(8, 2)));
    auto secs = ::timegm(&tm);
    if (secs < 0) return std::nullopt;
    std::int64_t day = secs / k_seconds_per_day;
    if (day_text(day) != text) return std::nullopt; // "2026-02-31" normalises to another day
    return day;
}

std::string access_key(std::int64_t day, std::string_view machine) {
    return std::string(k_access_root) + day_text(day) + "/" + std::string(machine);
}

std::optional<AccessKey> parse_access_key(std::string_view key) {
    if (!key.starts_with(k_access_root)) return std::nullopt;
    key.remove_prefix(k_access_root.size());
    auto slash = key.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto day = parse_day_text(key.substr(0, slash));
    auto machine = key.substr(slash + 1);
    if (!day || !valid_machine(machine)) return std::nullopt;
    return AccessKey{*day, std::string(machine)};
}

std::string access_body(const std::set<hash::Digest>& used) {
    std::string body;
    body.reserve(used.size() * k_access_line_bytes);
    for (auto& d : used) {
        body += d.hex();
        body += '\n';
    }
    return body;
}

Result<std::set<hash::Digest>> parse_access_body(std::string_view text) {
    if (text.size() > k_max_access_object_bytes)
        return fail(ErrorKind::corrupt, "an access object over " + std::to_string(k_max_access_object_bytes) + " bytes");
    std::set<hash::Digest> out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        auto nl = text.find('\n');
        if (nl == std::string_view::npos) return fail(ErrorKind::corrupt, "access object: line " + std::to_string(line_no) + " has no newline");
        auto line = text.substr(0, nl);
        text.remove_prefix(nl + 1);
        auto d = is_lower_hex(line) ? hash::Digest::from_hex(line) : std::nullopt;
        if (!d) return fail(ErrorKind::corrupt, "access object: line " + std::to_string(line_no) + " is not a pack's K2");
        out.insert(*d);
    }
    if (out.size() > k_max_access_entries) return fail(ErrorKind::corrupt, "access object: too many lines");
    return out;
}

Result<std::set<hash::Digest>> read_access(RemoteBackend& backend, const std::string& key,
                                           const std::filesystem::path& tmp_dir) {
    // Opened in place where it can be, so an oversized object (another writer's) is
    // refused by its size before a byte is copied.
    auto obj = detail::open_object(backend, key, tmp_dir, k_max_access_object_bytes);
    if (!obj) return std::unexpected(obj.error());
    auto text = util::read_open_bounded(obj->fd.get(), obj->size, k_max_access_object_bytes, key);
    if (!text) return fail(ErrorKind::corrupt, key + ": " + text.error().message);
    auto used = parse_access_body(*text);
    if (!used) return fail(ErrorKind::corrupt, key + ": " + used.error().message);
    return used;
}

Result<std::string> machine_id(const store::Store& store) {
    auto path = store.root() / k_machine_id_file;
    if (auto text = util::read_file_bounded(path, k_machine_id_chars + 1)) {
        std::string_view id = *text;
        if (id.ends_with('\n')) id.remove_suffix(1);
        if (valid_machine(id)) return std::string(id);
    }
    auto id = new_machine_id();
    if (!id) return id;
    auto tmp = util::TempFile::create(store.tmp_dir());
    if (!tmp) return std::unexpected(tmp.error());
    if (auto w = tmp->write(*id + "\n"); !w) return std::unexpected(w.error());
    // Two processes starting at once: the first id committed wins, the other reads it.
    if (tmp->commit_no_replace(path)) return id;
    auto again = util::read_file_bounded(path, k_machine_id_chars + 1);
    if (again) {
        std::string_view held = *again;
        if (held.ends_with('\n')) held.remove_suffix(1);
        if (valid_machine(held)) return std::string(held);
    }
    // Unreadable or not an id (damaged): replace it.
    if (auto w = util::write_file_atomic(path, *id + "\n", store.tmp_dir()); !w) return std::unexpected(w.error());
    return id;
}

void AccessRecorder::record(const hash::Digest& k2, SystemTime now) {
    auto day = day_number(now);
    std::lock_guard g(mu_);
    auto& used = days_[day];
    if (used.size() >= k_max_access_entries) return; // the object could not list it anyway
    if (used.insert(k2).second) dirty_.insert(day);
}

void AccessRecorder::record_manifest_key(std::string_view manifest_key, SystemTime now) {
    if (auto name = parse_manifest_key(manifest_key)) record(name->k2, now);
}

bool AccessRecorder::dirty() const {
    std::lock_guard g(mu_);
    return !dirty_.empty();
}

Result<std::size_t> AccessRecorder::flush(RemoteBackend& backend, const std::string& machine,
                                          const std::filesystem::path& tmp_dir, SystemTime now) {
    std::lock_guard one(flush_mu_);
    std::map<std::int64_t, std::set<hash::Digest>> todo;
    {
        std::lock_guard g(mu_);
        for (auto day : dirty_) todo[day] = days_[day];
        dirty_.clear();
    }
    std::size_t written = 0;
    std::optional<Error> failed;
    for (auto& [day, used] : todo) {
        auto key = access_key(day, machine);
        auto merged = read_access(backend, key, tmp_dir);
        if (!merged) {
            if (merged.error().kind == ErrorKind::not_found || merged.error().kind == ErrorKind::corrupt) merged.emplace();
            else {
                failed = merged.error();
                std::lock_guard g(mu_);
                dirty_.insert(day);
                continue;
            }
        }
        std::size_t before = merged->size();
        for (auto& d : used) {
            if (merged->size() >= k_max_access_entries) break;
            merged->insert(d);
        }
        if (merged->size() == before) continue; // nothing new: leave the object alone
        auto body = util::TempFile::create(tmp_dir);
        Result<void> put = body ? body->write(access_body(*merged)) : Result<void>(std::unexpected(body.error()));
        if (put) put = backend.put(key, body->path(), Overwrite::yes);
        if (!put) {
            failed = put.error();
            std::lock_guard g(mu_);
            dirty_.insert(day);
            continue;
        }
        ++written;
    }
    {
        // Past days are complete once written: forget them (memory stays one day's set).
        std::lock_guard g(mu_);
        auto today = day_number(now);
        for (auto it = days_.begin(); it != days_.end();)
            it = it->first < today && !dirty_.contains(it->first) ? days_.erase(it) : std::next(it);
    }
    if (failed) return std::unexpected(*failed);
    return written;
}

} // namespace kache::remote
