// key::SetMemo::parse on any bytes: the first 16 bytes are the set's K2, the next
// two give the file count n (mod 64, plus 1), the rest is the memo file. Stamps it
// returns are exactly n, and saved by SetMemo and loaded back they are the same.
#include <kache/set_memo.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>

using namespace kache;

namespace {
inline constexpr std::size_t k_k2_bytes = 16;
inline constexpr std::size_t k_count_bytes = 2;
inline constexpr std::size_t k_count_mod = 64;
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < k_k2_bytes + k_count_bytes) return 0;
    hash::Digest k2;
    std::memcpy(k2.bytes.data(), data, k_k2_bytes);
    std::size_t n = (static_cast<std::size_t>(data[k_k2_bytes]) | static_cast<std::size_t>(data[k_k2_bytes + 1]) << 8) %
                        k_count_mod + 1;
    std::string_view file(reinterpret_cast<const char*>(data) + k_k2_bytes + k_count_bytes,
                          size - k_k2_bytes - k_count_bytes);
    auto stamps = key::SetMemo::parse(file, k2, n);
    if (stamps.empty()) return 0;
    if (stamps.size() != n) fuzz::violated("a memo parsed to a count other than n");

    static const key::SetMemo memo(fuzz::scratch_dir() / "memo");
    static const hash::Digest k1 = hash::of("fuzz_set_memo");
    memo.save(k1, k2, stamps);
    auto back = memo.load(k1, k2, n);
    if (back.size() != n) fuzz::violated("saved stamps do not load back");
    for (std::size_t i = 0; i < n; ++i) {
        auto& a = stamps[i];
        auto& b = back[i];
        if (a.size != b.size || a.mtime_ns != b.mtime_ns || a.ctime_ns != b.ctime_ns || a.inode != b.inode ||
            a.device != b.device)
            fuzz::violated("a stamp changes across save and load");
    }
    return 0;
}
