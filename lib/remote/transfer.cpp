// Push and pull of one entry (kache/remote/transfer.hpp).
#include <kache/remote/pack.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/util/fs.hpp>

#include "open_object.hpp"

#include <chrono>

namespace kache::remote {

namespace {

// The largest manifest object accepted from a remote (one input set is a few KiB).
inline constexpr std::uint64_t k_max_manifest_object_bytes = 16 << 20;
// How long a pull waits for the K1 lock before giving up on adding the input set.
inline constexpr std::chrono::seconds k_manifest_lock_timeout{30};

// An upload of an object the remote already has is a success: objects are content-addressed.
Result<void> put_once(RemoteBackend& backend, const std::string& key, const std::filesystem::path& src) {
    auto r = backend.put(key, src, Overwrite::no);
    if (!r && r.error().kind == ErrorKind::conflict) return ok();
    return r;
}

// Downloads, checks and imports one entry; origin marking is pull_entry's.
Result<std::uint64_t> pull_checked(store::Store& store, RemoteBackend& backend, const std::string& mkey,
                                   const ManifestKey& name, const PackLimits& limits) {
    auto mobj = detail::open_object(backend, mkey, store.tmp_dir(), k_max_manifest_object_bytes);
    if (!mobj) return std::unexpected(mobj.error());
    auto text = util::read_open_bounded(mobj->fd.get(), mobj->size, k_max_manifest_object_bytes, mkey);
    if (!text) return std::unexpected(text.error());
    auto set = parse_manifest_object(*text);
    if (!set) return std::unexpected(set.error());
    // The object's name must be what its content says, or it could redirect a key.
    if (key::result_key(name.k1, *set) != name.k2)
        return fail(ErrorKind::corrupt, "remote manifest " + mkey + " does not match its key");
    std::uint64_t bytes = text->size();
    if (!store.has_entry(name.k2)) {
        auto pobj = detail::open_object(backend, pack_key(name), store.tmp_dir(), max_pack_bytes(limits));
        if (!pobj) return std::unexpected(pobj.error());
        auto entry = unpack(store, pobj->fd.get(), name.k2, limits, name.k1);
        if (!entry) return std::unexpected(entry.error());
        bytes += pobj->size;
    }
    auto lock = store.lock_key(name.k1, k_manifest_lock_timeout);
    if (!lock) return std::unexpected(lock.error());
    if (auto a = store.add_input_set(name.k1, *set); !a) return std::unexpected(a.error());
    return bytes;
}

} // namespace

Result<LocalObject> detail::open_object(RemoteBackend& backend, const std::string& key,
                                        const std::filesystem::path& tmp_dir, std::uint64_t max_bytes) {
    auto local = backend.open_local(key);
    if (local || local.error().kind != ErrorKind::unsupported) return local;
    auto tmp = util::TempFile::create(tmp_dir);
    if (!tmp) return std::unexpected(tmp.error());
    if (auto g = backend.get_bounded(key, tmp->path(), max_bytes); !g) return std::unexpected(g.error());
    LocalObject obj;
    auto fd = util::open_regular(tmp->path(), util::FollowLinks::no, &obj.size);
    if (!fd) return std::unexpected(fd.error());
    obj.fd = std::move(*fd);
    return obj;
}

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
