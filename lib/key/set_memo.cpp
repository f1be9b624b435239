// The input-set memo (kache/set_memo.hpp). File layout, host byte order like the
// digest cache's records (the store is never shared between machines):
//   "KSM1", u32 count, K2 (16 bytes), count x {size, mtime, ctime, inode,
//   device} (5 x 8 bytes), then the XXH3-128 digest of everything before it.
// It is overwritten in place at the new length (no O_TRUNC, which makes ext4
// flush on close); bytes past the end of a shorter record are ignored.
#include <kache/set_memo.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cstring>

namespace kache::key {

namespace fs = std::filesystem;

namespace {
constexpr char k_magic[4] = {'K', 'S', 'M', '1'};
constexpr std::size_t k_header = 4 + 4 + 16;
constexpr std::size_t k_per_file = 5 * 8;
constexpr std::size_t k_trailer = 16;

std::size_t record_size(std::size_t n) { return k_header + n * k_per_file + k_trailer; }

void put64(std::vector<char>& out, std::uint64_t v) {
    char b[8];
    std::memcpy(b, &v, 8);
    out.insert(out.end(), b, b + 8);
}

std::uint64_t get64(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
} // namespace

fs::path SetMemo::path_of(const hash::Digest& k1) const { return hash::sharded_path(dir_, {}, k1); }

bool SetMemo::same(const util::FileStamp& r, const util::FileStamp& st) {
    return r.inode != 0 && r.size == st.size && r.mtime_ns == st.mtime_ns && r.ctime_ns == st.ctime_ns &&
           r.inode == st.inode && r.device == st.device;
}

std::vector<util::FileStamp> SetMemo::load(const hash::Digest& k1, const hash::Digest& k2, std::size_t n) const {
    if (n == 0 || n > k_max_files) return {};
    int fd = ::open(path_of(k1).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return {};
    util::UniqueFd owner(fd);
    std::vector<char> buf(record_size(n));
    std::size_t got = 0;
    while (got < buf.size()) {
        ssize_t r = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(got));
        if (r <= 0) return {};
        got += static_cast<std::size_t>(r);
    }
    return parse(std::string_view(buf.data(), buf.size()), k2, n);
}

std::vector<util::FileStamp> SetMemo::parse(std::string_view bytes, const hash::Digest& k2, std::size_t n) {
    if (n == 0 || n > k_max_files || bytes.size() < record_size(n)) return {};
    const char* b = bytes.data();
    std::uint32_t count;
    std::memcpy(&count, b + 4, 4);
    if (std::memcmp(b, k_magic, 4) != 0 || count != n || std::memcmp(b + 8, k2.bytes.data(), 16) != 0) return {};
    std::size_t body = record_size(n) - k_trailer;
    hash::Digest check = hash::of(std::string_view(b, body));
    if (std::memcmp(b + body, check.bytes.data(), 16) != 0) return {};
    std::vector<util::FileStamp> out(n);
    const char* p = b + k_header;
    for (auto& st : out) {
        st.size = get64(p);
        st.mtime_ns = static_cast<std::int64_t>(get64(p + 8));
        st.ctime_ns = static_cast<std::int64_t>(get64(p + 16));
        st.inode = get64(p + 24);
        st.device = get64(p + 32);
        p += k_per_file;
    }
    return out;
}

void SetMemo::save(const hash::Digest& k1, const hash::Digest& k2, std::span<const util::FileStamp> stamps) const {
    if (stamps.empty() || stamps.size() > k_max_files) return;
    std::vector<char> out;
    out.reserve(record_size(stamps.size()));
    out.insert(out.end(), k_magic, k_magic + 4);
    auto count = static_cast<std::uint32_t>(stamps.size());
    char c[4];
    std::memcpy(c, &count, 4);
    out.insert(out.end(), c, c + 4);
    out.insert(out.end(), k2.bytes.begin(), k2.bytes.end());
    for (auto& st : stamps) {
        put64(out, st.size);
        put64(out, static_cast<std::uint64_t>(st.mtime_ns));
        put64(out, static_cast<std::uint64_t>(st.ctime_ns));
        put64(out, st.inode);
        put64(out, st.device);
    }
    hash::Digest check = hash::of(std::string_view(out.data(), out.size()));
    out.insert(out.end(), check.bytes.begin(), check.bytes.end());
    auto fd = util::open_file(path_of(k1), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, util::k_private_file_mode);
    if (!fd) return;
    std::size_t done = 0;
    while (done < out.size()) {
        ssize_t w = ::pwrite(fd->get(), out.data() + done, out.size() - done, static_cast<off_t>(done));
        if (w <= 0) return;
        done += static_cast<std::size_t>(w);
    }
}

} // namespace kache::key
