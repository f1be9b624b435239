// lib/wrapper/path_scan.hpp — private to the wrapper: finding this checkout's
// raw root paths in a compile's outputs, and the input-set marker that makes
// such an entry path-specific.
//
// A compile is remapped (`--remap-path-prefix` for every root), so its outputs
// normally carry no machine-local path. Some still do: an rpath from a link
// arg, a proc macro that read CARGO_MANIFEST_DIR through std::env, an env!
// value. Such an entry is recorded with one marker per root found, an input-set
// variable whose name no real variable can have ('=' in it) and whose value is
// the root's raw path; K2 then depends on that path and a lookup matches only
// where the root has the same path. The scan runs on misses only; a lookup
// compares strings it already holds.
#pragma once

#include <kache/error.hpp>
#include <kache/key.hpp>
#include <kache/store.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::wrapper {

// Largest output scanned; a larger (or unreadable) one counts as holding every root.
inline constexpr std::uint64_t k_max_scanned_output_bytes = 4ull << 30;

// The roots whose raw path in an output means "this checkout": all of them.
// One that is a well-known system directory ("/tmp", "/root", "/home"), which
// the standard library and ordinary crates name on their own (std::env::temp_dir
// holds "/tmp"), counts only with a '/' after it (contains_root).
std::vector<key::Root> specific_roots(const key::PathMap& paths);

// True when root (absolute, no trailing '/') occurs in data followed by '/',
// a character that cannot continue a path, or the end of data; a root that is
// a system directory only when followed by '/'. A root of one component must
// also start a path (the byte before it cannot continue one).
bool contains_root(std::string_view data, std::string_view root);

// Finds roots in a stream of chunks, as contains_root does, in one pass over the
// bytes for all roots together. It owns the buffer the chunks are read into (a short
// tail of the chunk before is kept in front), so the store's put path reads each output
// once for its digest and this scan (store::ChunkObserver); nothing is copied.
class RootScanner final : public store::ChunkObserver {
public:
    explicit RootScanner(std::vector<key::Root> roots);

    std::span<char> next_buffer() override;
    void arrived(std::size_t n) override;

    // The roots seen so far; every root once the stream passed k_max_scanned_output_bytes
    // (or when a root does not start with '/', which no absolute path does).
    std::vector<key::Root> found() const;

private:
    void scan(std::string_view data, std::size_t from, bool more_follows);

    std::vector<key::Root> roots_;
    std::vector<bool> seen_;
    std::vector<bool> slash_only_; // a system directory: counts only with a '/' after it
    std::size_t left_ = 0;   // roots not seen yet: none left, nothing to scan
    std::size_t keep_ = 0;   // tail carried to the next chunk: the longest root and the byte before it
    std::unique_ptr<char[]> buf_;
    std::size_t have_ = 0;   // bytes in buf_ (the carried tail, then the chunk just read)
    bool carried_ = false;   // buf_[0] is a byte already scanned, kept as the one before the rest
    std::uint64_t total_ = 0;
};

// The roots (of `roots`) found in the file at p, read in bounded chunks. An
// error when it cannot be read, is not a regular file or exceeds the bound.
Result<std::vector<key::Root>> roots_in_file(const std::filesystem::path& p, const std::vector<key::Root>& roots);

// The input-set variable name that marks root `root_name` as path-specific.
std::string path_marker(std::string_view root_name);

// Is this input-set variable name a path marker (never a real variable)?
bool is_path_marker(std::string_view name);

// Does a path marker recorded with raw path `value` hold under these roots?
bool path_marker_matches(std::string_view name, std::string_view value, const key::PathMap& paths);

} // namespace kache::wrapper
