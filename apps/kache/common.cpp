#include "commands.hpp"

#include <cstdio>

namespace kache::app {

std::optional<Opened> open_configured_store() {
    auto cfg = config::load();
    if (cfg.log_level != "error") // KACHE_LOG=error hides warnings
        for (auto& w : cfg.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    auto store = store::Store::open(cfg.cache_dir);
    if (!store) {
        std::fprintf(stderr, "kache: %s\n", store.error().message.c_str());
        return std::nullopt;
    }
    return Opened{std::move(cfg), std::move(*store)};
}

} // namespace kache::app
