// The size cap without a daemon: a miss that pushes the store's size counter over
// max_size starts a trim in a detached process, off cargo's critical path.
#include "miss_notes.hpp"

#include <kache/size_cap.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

namespace kache::wrapper {

namespace {

// A daemon holds "<socket>.lock" for as long as it serves (one open and one flock).
bool daemon_running(const config::Config& cfg) {
    fs::path lock = cfg.effective_socket_path();
    lock += ".lock";
    return util::FileLock::held_elsewhere(lock);
}

} // namespace

void note_stored_bytes(const Context& c, std::uint64_t bytes) {
    if (!c.store) return;
    auto total = store::add_to_size_counter(*c.store, bytes);
    if (total && *total <= c.cfg.max_size) return;
    if (daemon_running(c.cfg) || store::trim_running(*c.store)) return;
    auto self = util::self_exe();
    if (!self) return;
    (void)util::spawn_detached({self->string(), "gc", "--if-over-cap"});
}

} // namespace kache::wrapper
