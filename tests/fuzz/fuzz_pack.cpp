// remote::unpack on any pack body: the input is the decompressed pack (so the
// fuzzer works on the format, not on zstd); it is compressed into a file and
// unpacked into a scratch store. A bad pack is corrupt and leaves no entry.
#include <kache/remote/pack.hpp>

#include "fuzz_support.hpp"

#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>

using namespace kache;

namespace {
// The K2 the seed packs carry (tests/fuzz/corpus/fuzz_pack).
constexpr std::string_view k_seed_k2 = "22222222222222222222222222222222";
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static auto store = store::Store::open(fuzz::scratch_dir() / "store");
    if (!store) fuzz::violated("cannot open the scratch store");
    static const auto file = fuzz::scratch_dir() / "in.pack";
    std::string packed(ZSTD_compressBound(size), '\0');
    std::size_t n = ZSTD_compress(packed.data(), packed.size(), data, size, 1);
    if (ZSTD_isError(n)) return 0;
    packed.resize(n);
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(packed.data(), static_cast<std::streamsize>(packed.size()));
    }
    auto k2 = *hash::Digest::from_hex(k_seed_k2);
    remote::PackLimits limits;
    limits.max_blob_bytes = 1 << 20; // keep each run small
    limits.max_total_bytes = 4 << 20;
    auto e = remote::unpack(*store, file, k2, limits);
    if (e) {
        (void)store->remove_entry(k2); // the next input starts from an empty store
        return 0;
    }
    if (e.error().kind != ErrorKind::corrupt) fuzz::violated("a pack error that is not corrupt");
    if (store->has_entry(k2)) fuzz::violated("a bad pack left an entry behind");
    return 0;
}
