// Push and pull of one entry (kache/remote/transfer.hpp).
#include <kache/remote/pack.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/util/fs.hpp>

#include <chrono>

namespace kache::remote {

namespace {

// The largest manifest object accepted from a remote (one input set is a few KiB).
inline constexpr std::uint64_t k_max_manifest_object_bytes = 16 << 20;
// How long a pull waits for the K1 lock before giving up on adding the input set.
inline constexpr std::chrono::seconds k_manifest_lock_timeout{30};

std::uint64_t size_of(const std::filesystem::path& p) {
    std::error_code ec;
    auto n = std::filesystem::file_size(p, ec);
    return ec ? 0 : n;
}

// An upload of an object the remote already has is a success: objects are content-addressed.
Result<void> put_once(RemoteBackend& backend, const std::string& key, const std::filesystem::path& src) {
    auto r = backend.put(key, src, Overwrite::no);
    if (!r && r.error().kind == ErrorKind::conflict) return ok();
    return r;
}

// The manifest object at key, read in place where the backend allows it, else
// downloaded through a temp file first.
Result<std::string> fetch_manifest(store::Store& store, RemoteBackend& backend, const std::string& key) {
    if (auto local = backend.open_local(key))
        return util::read_open_bounded(local->fd.get(), local->size, k_max_manifest_object_bytes, key);
    else if (local.error().kind != ErrorKind::unsupported) return std::unexpected(local.error());
    auto mfile = util::TempFile::create(store.tmp_dir());
    if (!mfile) return std::unexpected(mfile.error());
    if (auto g = backend.get(key, mfile->path()); !g) return std::unexpected(g.error());
    return util::read_file_bounded(mfile->path(), k_max_manifest_object_bytes);
}

// The pack at key unpacked into the store: read in place where the backend allows
// it (a shared directory: no copy, no temp file), else downloaded first. Returns
// the pack's size.
Result<std::uint64_t> fetch_pack(store::Store& store, RemoteBackend& backend, const ManifestKey& name,
                                 const PackLimits& limits) {
    std::string key = pack_key(name);
    if (auto local = backend.open_local(key)) {
        auto entry = unpack(store, local->fd.get(), name.k2, limits, name.k1);
        if (!entry) return std::unexpected(entry.error());
        return local->size;
    } else if (local.error().kind != ErrorKind::unsupported) {
        return std::unexpected(local.error());
    }
    auto pfile = util::TempFile::create(store.tmp_dir());
    if (!pfile) return std::unexpected(pfile.error());
    if (auto g = backend.get(key, pfile->path()); !g) return std::unexpected(g.error());
    auto entry = unpack(store, pfile->path(), name.k2, limits, name.k1);
    if (!entry) return std::unexpected(entry.error());
    return size_of(pfile->path());
}

// Downloads, checks and imports one entry; origin marking is pull_entry's.
Result<std::uint64_t> pull_checked(store::Store& store, RemoteBackend& backend, const std::string& mkey,
                                   const ManifestKey& name, const PackLimits& limits) {
    auto text = fetch_manifest(store, backend, mkey);
    if (!text) return std::unexpected(text.error());
    auto set = parse_manifest_object(*text);
    if (!set) return std::unexpected(set.error());
    // The object's name must be what its content says, or it could redirect a key.
    if (key::result_key(name.k1, *set) != name.k2)
        return fail(ErrorKind::corrupt, "remote manifest " + mkey + " does not match its key");
    std::uint64_t bytes = text->size();
    if (!store.has_entry(name.k2)) {
        auto packed = fetch_pack(store, backend, name, limits);
        if (!packed) return std::unexpected(packed.error());
        bytes += *packed;
    }
    auto lock = store.lock_key(name.k1, k_manifest_lock_timeout);
    if (!lock) return std::unexpected(lock.error());
    if (auto a = store.add_input_set(name.k1, *set); !a) return std::unexpected(a.error());
    return bytes;
}

} // namespace

Result<PushResult> push_entry(const store::Store& store, RemoteBackend& backend, const store::Entry& entry) {
    auto set = store.input_set_of(entry.k1, entry.k2);
    if (!set) return PushResult{PushOutcome::input_set_gone, 0};
    auto pfile = util::TempFile::create(store.tmp_dir());
    if (!pfile) return std::unexpected(pfile.error());
    auto mfile = util::TempFile::create(store.tmp_dir());
    if (!mfile) return std::unexpected(mfile.error());
    auto size = pack(store, entry, pfile->path());
    if (!size) return std::unexpected(size.error());
    std::string manifest = manifest_object(*set);
    if (auto w = mfile->write(manifest); !w) return std::unexpected(w.error());
    // The pack first: a manifest must never name a pack that is not there.
    if (auto r = put_once(backend, pack_key(entry), pfile->path()); !r) return std::unexpected(r.error());
    if (auto r = put_once(backend, manifest_key(entry), mfile->path()); !r) return std::unexpected(r.error());
    return PushResult{PushOutcome::pushed, *size + manifest.size()};
}

Result<PushResult> push_entry(const store::Store& store, RemoteBackend& backend, const hash::Digest& k2) {
    auto entry = store.read_entry(k2);
    if (!entry) {
        if (entry.error().kind == ErrorKind::not_found) return PushResult{PushOutcome::entry_gone, 0};
        return std::unexpected(entry.error());
    }
    return push_entry(store, backend, *entry);
}

Result<std::uint64_t> pull_entry(store::Store& store, RemoteBackend& backend, const std::string& mkey,
                                 std::string_view origin, const PackLimits& limits) {
    auto name = parse_manifest_key(mkey);
    if (!name) return fail(ErrorKind::corrupt, "unexpected remote object " + mkey);
    bool mark = !origin.empty() && !store.has_entry(name->k2);
    if (mark) store.set_origin(name->k2, origin);
    auto pulled = pull_checked(store, backend, mkey, *name, limits);
    if (!pulled && mark && !store.has_entry(name->k2)) (void)store.take_origin(name->k2);
    return pulled;
}

bool has_locally(const store::Store& store, const ManifestKey& key) {
    return store.has_entry(key.k2) && store.input_set_of(key.k1, key.k2).has_value();
}

} // namespace kache::remote
