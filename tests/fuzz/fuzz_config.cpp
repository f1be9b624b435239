// config::load_from on any config.toml: warnings and defaults, never a crash.
#include <kache/config.hpp>

#include "fuzz_support.hpp"

#include <cstddef>
#include <cstdint>
#include <fstream>

using namespace kache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto file = fuzz::scratch_dir() / "config.toml";
    {
        std::ofstream out(file, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    }
    auto cfg = config::load_from(file);
    (void)cfg.effective_socket_path();
    return 0;
}
