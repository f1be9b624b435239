// kache/remote/builtin.hpp — the backends that ship with libkache_remote.
#pragma once

namespace kache::remote {

// Registers the built-in schemes in Registry::instance():
//   "s3"    s3://bucket/prefix   (S3Backend; settings from the spec's options and KACHE_S3_*/AWS_*)
//   "file"  file:///abs/path     (FilesystemBackend)
// A spec with read_only set yields a backend whose put/remove return ErrorKind::denied.
// Calling it again re-registers the same factories (harmless). An embedder that wants its
// own "s3" registers it after this call.
void register_builtin_backends();

} // namespace kache::remote
