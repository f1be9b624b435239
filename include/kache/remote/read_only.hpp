// kache/remote/read_only.hpp — a backend that refuses to write (KACHE_REMOTE_READONLY=1):
// a CI job on an untrusted branch, or a laptop that should consume but never publish.
#pragma once

#include <kache/remote.hpp>

#include <memory>

namespace kache::remote {

// Wraps inner so that exists/get/list pass through and put/remove return ErrorKind::denied
// without touching the remote. describe() says "(read-only)".
std::unique_ptr<RemoteBackend> make_read_only(std::unique_ptr<RemoteBackend> inner);

} // namespace kache::remote
