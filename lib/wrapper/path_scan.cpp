// Raw root paths in a compile's outputs (see path_scan.hpp).
#include "path_scan.hpp"

#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace kache::wrapper {

namespace {

// Directories every Linux machine has, named by std, libc and ordinary crates
// on their own: their presence in an output says nothing about this checkout.
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

// Bytes read at a time; a chunk keeps the tail of the one before, so a root
// split across two reads is still seen.
inline constexpr std::size_t k_scan_chunk_bytes = 1 << 20;

// Finds root in data as contains_root does; with more_follows, a hit ending at
// the end of data is left for the next chunk (its next byte is not known yet).
bool find_root(std::string_view data, std::string_view root, bool more_follows) {
    if (root.empty()) return false;
    // A one-component root ("/build") must also start a path: "library/std/src"
    // does not hold the root "/src". A longer one is specific enough on its own.
    bool check_start = one_component(root);
    std::size_t pos = 0;
    while (pos + root.size() <= data.size()) {
        const void* hit = ::memmem(data.data() + pos, data.size() - pos, root.data(), root.size());
        if (!hit) return false;
        std::size_t at = static_cast<const char*>(hit) - data.data();
        std::size_t end = at + root.size();
        bool end_ok = end == data.size() ? !more_follows
                                         : data[end] == '/' || !is_path_char(static_cast<unsigned char>(data[end]));
        bool start_ok = !check_start || at == 0 || !is_path_char(static_cast<unsigned char>(data[at - 1]));
        if (end_ok && start_ok) return true;
        pos = at + 1;
    }
    return false;
}

// The roots found in the file at p, in one bounded read of it.
Result<std::vector<key::Root>> scan_file(const std::filesystem::path& p, const std::vector<key::Root>& roots) {
    std::vector<key::Root> found;
    if (roots.empty()) return found;
    // Read, not mapped: a file truncated under a mapping would kill the wrapper (SIGBUS).
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return fail(ErrorKind::io, "cannot open " + p.string() + ": " + std::strerror(errno));
    util::UniqueFd owner(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
        return fail(ErrorKind::io, p.string() + " is not a regular file");
    if (static_cast<std::uint64_t>(st.st_size) > k_max_scanned_output_bytes)
        return fail(ErrorKind::io, p.string() + " is too large to scan");
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

    std::size_t keep = 0; // the tail carried over: the longest root and the byte before it
    for (auto& r : roots) keep = std::max(keep, r.path.size() + 1);
    std::vector<bool> seen(roots.size(), false);
    std::size_t left = roots.size();
    std::string buf(keep + k_scan_chunk_bytes, '\0');
    std::size_t have = 0;
    std::uint64_t total = 0;
    while (left > 0) {
        ssize_t n = ::read(fd, buf.data() + have, buf.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "cannot read " + p.string() + ": " + std::strerror(errno));
        total += static_cast<std::uint64_t>(n);
        if (total > k_max_scanned_output_bytes) return fail(ErrorKind::io, p.string() + " is too large to scan");
        have += static_cast<std::size_t>(n);
        bool eof = n == 0;
        std::string_view data(buf.data(), have);
        for (std::size_t i = 0; i < roots.size(); ++i) {
            if (seen[i] || !find_root(data, roots[i].path, !eof)) continue;
            seen[i] = true;
            --left;
        }
        if (eof) break;
        if (have > keep) {
            std::memmove(buf.data(), buf.data() + have - keep, keep);
            have = keep;
        }
    }
    for (std::size_t i = 0; i < roots.size(); ++i)
        if (seen[i]) found.push_back(roots[i]);
    return found;
}

} // namespace

std::vector<key::Root> specific_roots(const key::PathMap& paths) {
    std::vector<key::Root> out;
    for (auto& r : paths.roots()) {
        if (std::find(k_system_dirs.begin(), k_system_dirs.end(), r.path) != k_system_dirs.end()) continue;
        out.push_back(r);
    }
    return out;
}

bool contains_root(std::string_view data, std::string_view root) { return find_root(data, root, false); }

Result<std::vector<key::Root>> roots_in_file(const std::filesystem::path& p, const std::vector<key::Root>& roots) {
    // A root under another one of several components (the target dir under the
    // workspace) occurs only where the outer one does: the common case, no
    // root at all, reads the file once and searches for the outer roots only.
    auto under = [](const key::Root& inner, const key::Root& outer) {
        return !one_component(outer.path) && inner.path.size() > outer.path.size() &&
               inner.path.starts_with(outer.path) && inner.path[outer.path.size()] == '/';
    };
    std::vector<key::Root> outer, nested;
    for (auto& r : roots) {
        bool is_nested = std::any_of(roots.begin(), roots.end(), [&](auto& o) { return under(r, o); });
        (is_nested ? nested : outer).push_back(r);
    }
    auto found = scan_file(p, outer);
    if (!found) return found;
    std::erase_if(nested, [&](const key::Root& r) {
        return std::none_of(found->begin(), found->end(), [&](auto& o) { return under(r, o); });
    });
    if (nested.empty()) return found;
    auto inner = scan_file(p, nested);
    if (!inner) return inner;
    found->insert(found->end(), inner->begin(), inner->end());
    return found;
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
