// GC of a shared remote (lib/remote/remote_gc.cpp) on a filesystem remote: least recently
// used packs go first with their manifests, --dry-run changes nothing, orphans go, and
// access markers are written at most once a day per pack per store.
#include <kache/remote/filesystem.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/remote_gc.hpp>

#include "remote_test_support.hpp"

using namespace kache;
using namespace kache::remote;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
using kache::test::open_store;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_today = 20000;

std::chrono::system_clock::time_point at_day(std::int64_t day) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(day * 86400 + 3600));
}

// A remote holding fake packs (content does not matter to GC) with one manifest each.
struct Remote {
    TempDir dir{"kache-rgc"};
    std::unique_ptr<FilesystemBackend> b;
    fs::path root() const { return dir.path() / "r"; }
    Remote() {
        fs::create_directories(root());
        auto made = FilesystemBackend::create(root());
        REQUIRE(made);
        b = std::move(*made);
    }
    hash::Digest add(const std::string& name, std::size_t bytes, std::optional<std::int64_t> day) {
        auto k1 = hash::of("k1 " + name), k2 = hash::of("k2 " + name);
        write_file(root() / pack_key(name, k2), std::string(bytes, 'p'));
        write_file(root() / manifest_key(name, "1.0.0", k1, k2), "m");
        if (day) write_file(root() / access_marker_key(k2, *day), "");
        return k2;
    }
    bool has(const std::string& key) const { return fs::exists(root() / key); }
};

} // namespace

TEST_CASE("remote gc: least recently used packs go first, manifests with them", "[remote_gc]") {
    Remote r;
    auto old = r.add("old", 1000, k_today - 30);
    auto never = r.add("never", 1000, std::nullopt);
    auto mid = r.add("mid", 1000, k_today - 5);
    auto fresh = r.add("fresh", 1000, k_today);
    write_file(r.root() / access_marker_key(fresh, k_today - 3), "");

    GcOptions opt;
    opt.now = at_day(k_today);
    opt.max_size = 2100; // room for two packs and their manifests
    opt.dry_run = true;
    auto dry = gc(*r.b, opt);
    REQUIRE(dry);
    CHECK(dry->packs == 4);
    REQUIRE(dry->victims.size() == 2);
    CHECK(dry->victims[0].pack_key == pack_key("never", never));
    CHECK(dry->victims[1].pack_key == pack_key("old", old));
    CHECK(dry->bytes_freed == 2002);
    CHECK(r.has(pack_key("never", never)));
    CHECK(r.has(pack_key("old", old)));

    opt.dry_run = false;
    auto done = gc(*r.b, opt);
    REQUIRE(done);
    CHECK(done->errors.empty());
    CHECK(!r.has(pack_key("never", never)));
    CHECK(!r.has(pack_key("old", old)));
    CHECK(!r.has(manifest_key("old", "1.0.0", hash::of("k1 old"), old)));
    CHECK(!r.has(access_marker_key(old, k_today - 30)));
    CHECK(r.has(pack_key("mid", mid)));
    CHECK(r.has(pack_key("fresh", fresh)));
    // Only the newest marker of a pack that stays is kept.
    CHECK(r.has(access_marker_key(fresh, k_today)));
    CHECK(!r.has(access_marker_key(fresh, k_today - 3)));
}

TEST_CASE("remote gc: --max-age, orphan manifests, and no limit", "[remote_gc]") {
    Remote r;
    auto old = r.add("old", 10, k_today - 30);
    auto mid = r.add("mid", 10, k_today - 5);
    // A manifest whose pack is gone.
    write_file(r.root() / manifest_key("lost", "1", hash::of("a"), hash::of("b")), "m");

    GcOptions opt;
    opt.now = at_day(k_today);
    auto none = gc(*r.b, opt);
    REQUIRE(none);
    CHECK(none->victims.empty());
    CHECK(none->orphan_manifests == 1);
    CHECK(!r.has(manifest_key("lost", "1", hash::of("a"), hash::of("b"))));

    opt.max_age = std::chrono::hours(24 * 10);
    auto aged = gc(*r.b, opt);
    REQUIRE(aged);
    REQUIRE(aged->victims.size() == 1);
    CHECK(!r.has(pack_key("old", old)));
    CHECK(r.has(pack_key("mid", mid)));
}

TEST_CASE("remote gc: access markers are written once a day per store", "[remote_gc]") {
    Remote r;
    TempDir sdir;
    auto store = open_store(sdir.path() / "store");
    auto k2 = hash::of("entry");
    record_access(store, *r.b, k2, at_day(k_today));
    CHECK(r.has(access_marker_key(k2, k_today)));
    // Removed behind the store's back: the same day, the store does not write it again.
    fs::remove(r.root() / access_marker_key(k2, k_today));
    record_access(store, *r.b, k2, at_day(k_today));
    CHECK(!r.has(access_marker_key(k2, k_today)));
    record_access(store, *r.b, k2, at_day(k_today + 1));
    CHECK(r.has(access_marker_key(k2, k_today + 1)));
}
