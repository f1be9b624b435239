// The remote layout (lib/remote/layout.cpp) and the exchange of one entry
// (lib/remote/transfer.cpp): push from one store, pull through a filesystem remote into
// another, the keys the daemon lists finding what was pushed (an empty version is "0"
// everywhere), and pulls that fail leaving no trace.
#include <kache/remote/filesystem.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/sync.hpp>
#include <kache/remote/transfer.hpp>
#include <kache/store.hpp>

#include "remote_test_support.hpp"

using namespace kache;
using namespace kache::remote;
using kache::remote::test::read_file;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
using kache::test::open_store;
namespace fs = std::filesystem;

namespace {

// A filesystem remote in a new directory root.
std::unique_ptr<FilesystemBackend> make_backend(const fs::path& root) {
    fs::create_directories(root);
    auto b = FilesystemBackend::create(root);
    INFO((b ? std::string() : b.error().message));
    REQUIRE(b);
    return std::move(*b);
}

// Records an entry the way the wrapper does: blobs, the input set in K1's manifest, the entry.
store::Entry record(store::Store& s, const std::string& crate, const std::string& version) {
    key::InputSet set;
    set.files.push_back({"{{kache:cwd}}/src/lib.rs", hash::of("source of " + crate)});
    set.env.emplace_back("CARGO_PKG_NAME", crate);
    store::Entry e;
    e.crate = crate;
    e.version = version;
    e.k1 = hash::of("k1 of " + crate + version);
    e.k2 = key::result_key(e.k1, set);
    const std::string rlib_bytes = "rlib of " + crate;
    auto rlib = s.put_blob(rlib_bytes);
    auto err = s.put_blob("warning: from " + crate + "\n");
    REQUIRE(rlib);
    REQUIRE(err);
    e.outputs.push_back({"lib" + crate + ".rlib", *rlib, rlib_bytes.size(), 0644, false});
    e.stderr_blob = *err;
    REQUIRE(s.add_input_set(e.k1, set));
    REQUIRE(s.write_entry(e));
    return e;
}

std::vector<std::string> keys_under(RemoteBackend& b, const std::string& prefix) {
    auto objs = b.list(prefix);
    REQUIRE(objs);
    std::vector<std::string> out;
    for (auto& o : *objs) out.push_back(o.key);
    std::sort(out.begin(), out.end());
    return out;
}

} // namespace

TEST_CASE("layout: every key of an entry, and the empty-version rule", "[layout]") {
    store::Entry e;
    e.crate = "serde (build script)";
    e.version = "1.0.152+meta";
    e.k1 = hash::of("k1");
    e.k2 = hash::of("k2");
    CHECK(key_safe("serde (build script)") == "serde__build_script_");
    CHECK(key_safe("") == "_");
    CHECK(key_safe("..") == "_..");
    CHECK(key_safe(key_safe("a b/c")) == key_safe("a b/c"));
    CHECK(pack_key(e) == "v1/packs/serde__build_script_/" + e.k2.hex() + ".pack");
    CHECK(manifest_key(e) == "v1/manifests/serde__build_script_/1.0.152_meta/" + e.k1.hex() + "/" + e.k2.hex());
    CHECK(crate_manifest_prefix(e.crate) == "v1/manifests/serde__build_script_/");
    CHECK(version_manifest_prefix(e.crate, e.version) == "v1/manifests/serde__build_script_/1.0.152_meta/");
    CHECK(manifest_key(e).starts_with(invocation_manifest_prefix(e.crate, e.version, e.k1)));

    // An unknown version is "0" in every key and prefix, never "_" or "".
    e.version = "";
    CHECK(version_component("") == "0");
    CHECK(version_component(k_unknown_version) == "0");
    CHECK(manifest_key(e) == "v1/manifests/serde__build_script_/0/" + e.k1.hex() + "/" + e.k2.hex());
    CHECK(version_manifest_prefix(e.crate, "") == "v1/manifests/serde__build_script_/0/");
    CHECK(invocation_manifest_prefix(e.crate, "", e.k1) == "v1/manifests/serde__build_script_/0/" + e.k1.hex() + "/");
    CHECK(manifest_key(e).starts_with(invocation_manifest_prefix(e.crate, e.version, e.k1)));
    CHECK(manifest_key(e).starts_with(version_manifest_prefix(e.crate, e.version)));

    auto parsed = parse_manifest_key(manifest_key(e));
    REQUIRE(parsed);
    CHECK(parsed->crate == "serde__build_script_");
    CHECK(parsed->k1 == e.k1);
    CHECK(parsed->k2 == e.k2);
    CHECK(pack_key(*parsed) == pack_key(e));
    for (std::string bad : {std::string("v1/packs/serde/") + e.k2.hex() + ".pack",
                            "v1/manifests/serde/0/" + e.k1.hex(),
                            "v1/manifests/serde/0/" + e.k1.hex() + "/" + e.k2.hex() + "/extra",
                            "v1/manifests/serde//" + e.k1.hex() + "/" + e.k2.hex(),
                            "v1/manifests/serde/0/nothex/" + e.k2.hex(), "other/serde/0/" + e.k1.hex() + "/" + e.k2.hex()})
        CHECK_FALSE(parse_manifest_key(bad));
}

TEST_CASE("transfer: push, then pull into another store", "[transfer]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    auto remote = make_backend(dir / "remote");
    auto e = record(a, "serde", "1.0.152");

    auto up = push_entry(a, *remote, e.k2);
    INFO((up ? std::string() : up.error().message));
    REQUIRE(up);
    CHECK(up->outcome == PushOutcome::pushed);
    CHECK(up->bytes > 0);
    CHECK(keys_under(*remote, std::string(k_packs_root)) == std::vector<std::string>{pack_key(e)});
    CHECK(keys_under(*remote, std::string(k_manifests_root)) == std::vector<std::string>{manifest_key(e)});
    // Pushing again finds both objects there: a success, nothing replaced.
    auto again = push_entry(a, *remote, e.k2);
    REQUIRE(again);
    CHECK(again->outcome == PushOutcome::pushed);
    // The temp files are gone.
    CHECK(fs::is_empty(a.tmp_dir()));

    // What a remote check for this invocation lists is what push wrote.
    auto found = keys_under(*remote, invocation_manifest_prefix(e.crate, e.version, e.k1));
    REQUIRE(found.size() == 1);
    auto name = parse_manifest_key(found[0]);
    REQUIRE(name);
    CHECK_FALSE(has_locally(b, *name));
    auto pulled = pull_entry(b, *remote, found[0], "remote");
    INFO((pulled ? std::string() : pulled.error().message));
    REQUIRE(pulled);
    CHECK(*pulled > 0);
    CHECK(has_locally(b, *name));
    auto got = b.read_entry(e.k2);
    REQUIRE(got);
    CHECK(got->crate == "serde");
    CHECK(got->k1 == e.k1);
    for (auto& o : got->outputs) CHECK(b.has_blob(o.blob));
    CHECK(b.has_blob(*got->stderr_blob));
    auto set = b.input_set_of(e.k1, e.k2);
    REQUIRE(set);
    CHECK(*set == *a.input_set_of(e.k1, e.k2));
    CHECK(b.take_origin(e.k2) == "remote");
    CHECK(fs::is_empty(b.tmp_dir()));

    // Pulling what the store has already only lists the input set again: no origin mark.
    auto twice = pull_entry(b, *remote, found[0], "prefetched");
    REQUIRE(twice);
    CHECK(b.take_origin(e.k2).empty());
}

TEST_CASE("transfer: an empty version is pushed and found under \"0\"", "[transfer][layout]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    auto remote = make_backend(dir / "remote");
    auto e = record(a, "probe", "");
    REQUIRE(push_entry(a, *remote, e));
    CHECK(fs::is_directory(dir / "remote" / "v1" / "manifests" / "probe" / "0" / e.k1.hex()));
    // A remote check (crate, "", K1) and a prefetch (crate, "") both find it.
    auto by_k1 = keys_under(*remote, invocation_manifest_prefix("probe", "", e.k1));
    auto by_version = keys_under(*remote, version_manifest_prefix("probe", ""));
    REQUIRE(by_k1.size() == 1);
    CHECK(by_version == by_k1);
    REQUIRE(pull_entry(b, *remote, by_k1[0]));
    CHECK(b.has_entry(e.k2));
    CHECK(b.read_entry(e.k2)->version.empty());
}

TEST_CASE("transfer: nothing to push", "[transfer]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto remote = make_backend(dir / "remote");
    auto gone = push_entry(a, *remote, hash::of("no such entry"));
    REQUIRE(gone);
    CHECK(gone->outcome == PushOutcome::entry_gone);

    // The manifest no longer lists the input set that produced the entry.
    auto e = record(a, "serde", "1.0.0");
    key::InputSet other;
    other.files.push_back({"{{kache:cwd}}/src/lib.rs", hash::of("edited")});
    REQUIRE(a.add_input_set(e.k1, other, 1)); // the cap keeps only the newest
    CHECK_FALSE(a.input_set_of(e.k1, e.k2));
    auto stale = push_entry(a, *remote, e.k2);
    REQUIRE(stale);
    CHECK(stale->outcome == PushOutcome::input_set_gone);
    CHECK(keys_under(*remote, "v1/").empty());
}

TEST_CASE("transfer: a failed pull leaves no entry and no origin mark", "[transfer]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    auto remote = make_backend(dir / "remote");
    auto e = record(a, "serde", "1.0.0");
    REQUIRE(push_entry(a, *remote, e));

    SECTION("the pack is missing") {
        REQUIRE(remote->remove(pack_key(e)));
        auto r = pull_entry(b, *remote, manifest_key(e), "remote");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::not_found);
    }
    SECTION("a manifest object under another entry's name") {
        store::Entry impostor = e;
        impostor.k2 = hash::of("another entry");
        write_file(dir / "m", read_file(dir / "remote" / manifest_key(e)));
        REQUIRE(remote->put(manifest_key(impostor), dir / "m", Overwrite::no));
        auto r = pull_entry(b, *remote, manifest_key(impostor), "remote");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK_FALSE(b.has_entry(impostor.k2));
        CHECK(b.take_origin(impostor.k2).empty());
    }
    SECTION("a key that names no entry") {
        auto r = pull_entry(b, *remote, pack_key(e), "remote");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::corrupt);
    }
    CHECK_FALSE(b.has_entry(e.k2));
    CHECK(b.take_origin(e.k2).empty());
    CHECK_FALSE(b.read_manifest(e.k1));
    CHECK(fs::is_empty(b.tmp_dir()));
}

TEST_CASE("transfer: sync pushes and pulls through the same exchange", "[transfer][sync]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    auto e1 = record(a, "serde", "1.0.0");
    auto e2 = record(a, "probe", "");
    fs::create_directories(dir / "remote");
    BackendMaker make = [&]() -> Result<std::unique_ptr<RemoteBackend>> {
        auto fsr = FilesystemBackend::create(dir / "remote");
        if (!fsr) return std::unexpected(fsr.error());
        return std::unique_ptr<RemoteBackend>(std::move(*fsr));
    };
    SyncOptions push_only;
    push_only.pull = false;
    push_only.jobs = 2;
    auto up = sync(a, make, push_only);
    REQUIRE(up);
    CHECK(up->pushed == 2);
    CHECK(up->failed == 0);

    SyncOptions pull_only;
    pull_only.push = false;
    pull_only.jobs = 2;
    auto down = sync(b, make, pull_only);
    REQUIRE(down);
    CHECK(down->pulled == 2);
    CHECK(down->failed == 0);
    CHECK(b.has_entry(e1.k2));
    CHECK(b.has_entry(e2.k2));
    auto again = sync(b, make, pull_only);
    REQUIRE(again);
    CHECK(again->pulled == 0);
    CHECK(again->up_to_date == 2);
}

namespace {
// A backend with only the required operations (no open_local), as an embedder's
// would be: pulls go through get().
class GetOnly final : public RemoteBackend {
public:
    explicit GetOnly(RemoteBackend& inner) : inner_(inner) {}
    Result<bool> exists(const std::string& key) override { return inner_.exists(key); }
    Result<void> get(const std::string& key, const fs::path& dest) override {
        ++gets;
        return inner_.get(key, dest);
    }
    Result<void> put(const std::string& key, const fs::path& src, Overwrite o) override { return inner_.put(key, src, o); }
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override { return inner_.list(prefix); }
    Result<void> remove(const std::string& key) override { return inner_.remove(key); }
    std::string describe() const override { return "get-only " + inner_.describe(); }
    int gets = 0;

private:
    RemoteBackend& inner_;
};
} // namespace

TEST_CASE("transfer: a shared directory is read in place, any other backend through get()", "[transfer]") {
    TempDir dir;
    auto a = open_store(dir / "a");
    auto remote = make_backend(dir / "remote");
    auto e = record(a, "serde", "1.0.152");
    REQUIRE(push_entry(a, *remote, e.k2));

    SECTION("the filesystem backend hands its objects over in place") {
        auto obj = remote->open_local(pack_key(e));
        REQUIRE(obj);
        CHECK(obj->size == fs::file_size(dir / "remote" / pack_key(e)));
        auto missing = remote->open_local(pack_key(e) + "x");
        REQUIRE_FALSE(missing);
        CHECK(missing.error().kind == ErrorKind::not_found);
        auto b = open_store(dir / "b");
        REQUIRE(pull_entry(b, *remote, manifest_key(e), "remote"));
        CHECK(b.has_entry(e.k2));
        CHECK(fs::is_empty(b.tmp_dir()));
    }
    SECTION("a backend without open_local is pulled from through get()") {
        GetOnly plain(*remote);
        auto obj = plain.open_local(pack_key(e));
        REQUIRE_FALSE(obj);
        CHECK(obj.error().kind == ErrorKind::unsupported);
        auto b = open_store(dir / "b");
        REQUIRE(pull_entry(b, plain, manifest_key(e), "remote"));
        CHECK(plain.gets == 2); // the manifest object and the pack
        CHECK(b.has_entry(e.k2));
        CHECK(fs::is_empty(b.tmp_dir()));
    }
    SECTION("a pack damaged in the shared directory is refused, and nothing is kept") {
        fs::path p = dir / "remote" / pack_key(e);
        std::string bytes = read_file(p);
        bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x55);
        write_file(p, bytes);
        auto b = open_store(dir / "b");
        auto r = pull_entry(b, *remote, manifest_key(e), "remote");
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::corrupt);
        CHECK_FALSE(b.has_entry(e.k2));
        CHECK(fs::is_empty(b.tmp_dir()));
    }
    SECTION("an object that is a symbolic link is not followed") {
        fs::path p = dir / "remote" / pack_key(e);
        fs::rename(p, dir / "elsewhere.pack");
        fs::create_symlink(dir / "elsewhere.pack", p);
        auto obj = remote->open_local(pack_key(e));
        REQUIRE_FALSE(obj);
        CHECK(obj.error().kind == ErrorKind::corrupt);
        auto b = open_store(dir / "b");
        CHECK_FALSE(pull_entry(b, *remote, manifest_key(e), "remote"));
        CHECK_FALSE(b.has_entry(e.k2));
    }
}
