// Raw root paths in a compile's outputs (see path_scan.hpp).
#include "path_scan.hpp"

#include <kache/util/fs.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace kache::wrapper {

namespace {

// Directories every Linux machine has, named by std, libc and ordinary crates
// on their own ("/tmp" alone, as std::env::temp_dir holds it). A root that is one
// of them (HOME=/root, TMPDIR=/tmp) is still looked for, but only as a directory
// with something below it ("/root/..."): the name alone says nothing about this
// checkout, a path below it may be this machine's.
inline constexpr std::array<std::string_view, 29> k_system_dirs = {
    "/bin",       "/boot",      "/dev",      "/etc",         "/home",     "/lib",      "/lib32",     "/lib64",
    "/libx32",    "/media",     "/mnt",      "/opt",         "/proc",     "/root",     "/run",      "/sbin",
    "/srv",       "/sys",       "/tmp",      "/usr",         "/var",      "/var/tmp",  "/var/lib",   "/var/cache",
    "/usr/local", "/usr/src",   "/usr/lib",  "/usr/share",   "/usr/include",
};

inline constexpr std::string_view k_marker_prefix = "=path-root:";

bool is_path_char(unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '/' || c == '~' || c == '+' || c == '@';
}

bool one_component(std::string_view root) { return root.find('/', 1) == std::string_view::npos; }

bool is_system_dir(std::string_view root) {
    return std::find(k_system_dirs.begin(), k_system_dirs.end(), root) != k_system_dirs.end();
}

// Bytes read at a time: small enough that the chunk the store just hashed is still in
// the CPU cache when it is scanned. A chunk keeps the tail of the one before, so a root
// split across two reads is still seen.
inline constexpr std::size_t k_scan_chunk_bytes = 1 << 17;

// Whether root occurs in data at `at` as contains_root counts it; with more_follows, a
// hit that ends at the end of data, or runs past it, is left for the next chunk (the
// byte after it is not known yet). data[at - 1], when at > 0, is the byte before it.
// slash_only: the root counts only when a '/' follows it (a system directory's name).
bool root_at(std::string_view data, std::size_t at, std::string_view root, bool more_follows, bool slash_only) {
    std::size_t end = at + root.size();
    if (end > data.size() || std::memcmp(data.data() + at, root.data(), root.size()) != 0) return false;
    bool end_ok = false;
    if (end == data.size()) end_ok = !more_follows && !slash_only;
    else if (data[end] == '/') end_ok = true;
    else end_ok = !slash_only && !is_path_char(static_cast<unsigned char>(data[end]));
    // A one-component root ("/build") must also start a path: "library/std/src"
    // does not hold the root "/src". A longer one is specific enough on its own.
    bool start_ok = !one_component(root) || at == 0 || !is_path_char(static_cast<unsigned char>(data[at - 1]));
    return end_ok && start_ok;
}

} // namespace

RootScanner::RootScanner(std::vector<key::Root> roots)
    : roots_(std::move(roots)), seen_(roots_.size(), false), slash_only_(roots_.size(), false) {
    for (std::size_t i = 0; i < roots_.size(); ++i) {
        slash_only_[i] = is_system_dir(roots_[i].path);
        // Every root is absolute; one that is not cannot be looked for by its '/': assume it is there.
        if (!roots_[i].path.starts_with('/')) seen_[i] = true;
        else ++left_;
        keep_ = std::max(keep_, roots_[i].path.size() + 1);
    }
}

std::span<char> RootScanner::next_buffer() {
    if (!buf_) buf_ = std::make_unique_for_overwrite<char[]>(keep_ + k_scan_chunk_bytes);
    return {buf_.get() + have_, keep_ + k_scan_chunk_bytes - have_};
}

void RootScanner::arrived(std::size_t n) {
    total_ += n;
    if (left_ > 0 && total_ > k_max_scanned_output_bytes) { // too large to tell: assume the worst
        std::fill(seen_.begin(), seen_.end(), true);
        left_ = 0;
    }
    if (left_ == 0) { // nothing to look for: the buffer only receives the bytes
        have_ = 0;
        return;
    }
    have_ += n;
    bool eof = n == 0;
    // A carried first byte was scanned with the byte before it; it stays only as context.
    scan(std::string_view(buf_.get(), have_), carried_ ? 1 : 0, !eof);
    if (!eof && have_ > keep_) {
        std::memmove(buf_.get(), buf_.get() + have_ - keep_, keep_);
        have_ = keep_;
        carried_ = true;
    }
}

void RootScanner::scan(std::string_view data, std::size_t from, bool more_follows) {
    // Every root starts with '/': one pass to each '/' (memchr is fast), then a
    // comparison per root not seen yet, instead of one substring search per root.
    std::size_t pos = from;
    while (left_ > 0 && pos < data.size()) {
        const void* hit = std::memchr(data.data() + pos, '/', data.size() - pos);
        if (!hit) return;
        std::size_t at = static_cast<std::size_t>(static_cast<const char*>(hit) - data.data());
        for (std::size_t i = 0; i < roots_.size(); ++i) {
            if (seen_[i] || !root_at(data, at, roots_[i].path, more_follows, slash_only_[i])) continue;
            seen_[i] = true;
            --left_;
        }
        pos = at + 1;
    }
}

std::vector<key::Root> RootScanner::found() const {
    std::vector<key::Root> out;
    for (std::size_t i = 0; i < roots_.size(); ++i)
        if (seen_[i]) out.push_back(roots_[i]);
    return out;
}

std::vector<key::Root> specific_roots(const key::PathMap& paths) {
    // Every root: one that is a system directory is matched with a '/' after it
    // (RootScanner), never left out, or HOME=/root would never mark an entry.
    return paths.roots();
}

bool contains_root(std::string_view data, std::string_view root) {
    if (root.empty()) return false;
    bool slash_only = is_system_dir(root);
    for (std::size_t at = data.find(root.front()); at != std::string_view::npos; at = data.find(root.front(), at + 1))
        if (root_at(data, at, root, false, slash_only)) return true;
    return false;
}

Result<std::vector<key::Root>> roots_in_file(const std::filesystem::path& p, const std::vector<key::Root>& roots) {
    // Read, not mapped: a file truncated under a mapping would kill the wrapper (SIGBUS).
    auto owner = util::open_regular(p, util::FollowLinks::no);
    if (!owner) return std::unexpected(owner.error());
    RootScanner scanner(roots);
    while (true) {
        std::span<char> buf = scanner.next_buffer();
        ssize_t n = ::read(owner->get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "cannot read " + p.string() + ": " + std::strerror(errno));
        scanner.arrived(static_cast<std::size_t>(n));
        if (n == 0) break;
    }
    return scanner.found();
}

std::string path_marker(std::string_view root_name) { return std::string(k_marker_prefix) + std::string(root_name); }

bool is_path_marker(std::string_view name) { return name.starts_with(k_marker_prefix); }

bool path_marker_matches(std::string_view name, std::string_view value, const key::PathMap& paths) {
    if (!is_path_marker(name)) return false;
    std::string_view root_name = name.substr(k_marker_prefix.size());
    for (auto& r : paths.roots())
        if (r.name == root_name) return r.path == value;
    return false;
}

} // namespace kache::wrapper
