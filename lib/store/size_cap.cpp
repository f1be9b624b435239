// The store's size counter and the trim that keeps a store without a daemon under its
// cap. The counter is approximate by design (a blob stored twice counts twice); every
// GC sets it to the truth again.
#include <kache/size_cap.hpp>
#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>

namespace kache::store {

namespace fs = std::filesystem;

namespace {

std::optional<std::uint64_t> parse_counter(std::string_view text) {
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.empty() || text.size() > k_max_counter_chars) return std::nullopt;
    std::uint64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
}

std::optional<std::uint64_t> read_counter_fd(int fd) {
    char buf[k_max_counter_chars + 2];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    if (n <= 0) return std::nullopt;
    return parse_counter(std::string_view(buf, static_cast<std::size_t>(n)));
}

void write_counter_fd(int fd, std::uint64_t v) {
    std::string text = std::to_string(v) + "\n";
    if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, text.data(), text.size(), 0);
}

// The counter file opened and locked for a read-modify-write (regular files only).
util::UniqueFd open_locked_counter(const Store& s) {
    util::UniqueFd fd(::open(size_counter_path(s).c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                             util::k_private_file_mode));
    if (!fd) return fd;
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return util::UniqueFd();
    while (::flock(fd.get(), LOCK_EX) != 0)
        if (errno != EINTR) return util::UniqueFd();
    return fd;
}

} // namespace

fs::path size_counter_path(const Store& s) { return s.root() / "size-counter"; }
fs::path trim_lock_path(const Store& s) { return s.root() / "trim.lock"; }

std::optional<std::uint64_t> read_size_counter(const Store& s) {
    auto text = util::read_file_bounded(size_counter_path(s), k_max_counter_chars + 1);
    if (!text) return std::nullopt;
    return parse_counter(*text);
}

std::optional<std::uint64_t> add_to_size_counter(const Store& s, std::uint64_t bytes) {
    auto fd = open_locked_counter(s);
    if (!fd) return std::nullopt;
    auto now = read_counter_fd(fd.get());
    if (!now) return std::nullopt; // unknown: the trim this leads to re-syncs it
    std::uint64_t total = *now + bytes < *now ? UINT64_MAX : *now + bytes;
    write_counter_fd(fd.get(), total);
    return total;
}

void init_size_counter(const Store& s) {
    util::UniqueFd fd(::open(size_counter_path(s).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                             util::k_private_file_mode));
    if (fd) (void)util::write_all(fd.get(), "0\n");
}

void set_size_counter(const Store& s, std::uint64_t bytes) {
    if (auto fd = open_locked_counter(s)) write_counter_fd(fd.get(), bytes);
}

bool trim_running(const Store& s) { return util::FileLock::held_elsewhere(trim_lock_path(s)); }

Result<TrimOutcome> trim_if_over_cap(Store& s, std::uint64_t max_bytes) {
    auto lock = util::FileLock::try_acquire(trim_lock_path(s));
    if (!lock) return std::unexpected(lock.error());
    if (!*lock) return TrimOutcome::busy;
    std::uint64_t target = max_bytes / 100 * k_trim_target_percent;
    TrimOutcome outcome = TrimOutcome::under_cap;
    std::optional<std::uint64_t> left;
    for (int pass = 0; pass < k_max_trim_passes; ++pass) {
        auto size = read_size_counter(s);
        if (size && *size <= max_bytes) break;
        // What GC could not remove (blobs a recording may still need) is no reason to
        // run it again; records added since are.
        if (size && left && *size <= *left) break;
        auto r = s.gc(target); // sets the counter to what is left
        if (!r) return std::unexpected(r.error());
        left = r->bytes_after;
        outcome = TrimOutcome::trimmed;
    }
    return outcome;
}

} // namespace kache::store
