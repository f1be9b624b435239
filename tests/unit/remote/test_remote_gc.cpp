// GC of a shared remote (lib/remote/remote_gc.cpp) on a filesystem remote: least recently
// used packs go first with their manifests, a pack's last use comes from the access
// objects of every machine or its upload day, --dry-run changes nothing, orphans and
// old access objects go, bad access objects are skipped with a warning.
#include <kache/remote/access_log.hpp>
#include <kache/remote/filesystem.hpp>
#include <kache/remote/layout.hpp>
#include <kache/remote/remote_gc.hpp>

#include "../../../lib/remote/iso_time.hpp"
#include "remote_test_support.hpp"

#include <sys/resource.h>

#include <csignal>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t k_today = 20000;
const std::string k_machine_a(32, 'a'), k_machine_b(32, 'b');

std::chrono::system_clock::time_point at_day(std::int64_t day) {
    return std::chrono::system_clock::time_point(std::chrono::seconds(day * 86400 + 3600));
}

// A remote holding fake packs (content does not matter to GC) with one manifest each.
struct Remote {
    TempDir dir{"kache-rgc"};
    std::unique_ptr<FilesystemBackend> b;
    fs::path root() const { return dir.path() / "r"; }
    fs::path tmp() const { return dir.path() / "tmp"; }
    Remote() {
        fs::create_directories(root());
        fs::create_directories(tmp());
        auto made = FilesystemBackend::create(root());
        REQUIRE(made);
        b = std::move(*made);
    }
    // A pack uploaded on day uploaded.
    hash::Digest add(const std::string& name, std::size_t bytes, std::int64_t uploaded = k_today - 100) {
        auto k1 = hash::of("k1 " + name), k2 = hash::of("k2 " + name);
        auto p = root() / pack_key(name, k2);
        write_file(p, std::string(bytes, 'p'));
        fs::last_write_time(p, std::chrono::file_clock::from_sys(at_day(uploaded)));
        write_file(root() / manifest_key(name, "1.0.0", k1, k2), "m");
        return k2;
    }
    void used(std::int64_t day, const std::string& machine, const std::set<hash::Digest>& k2s) {
        write_file(root() / access_key(day, machine), access_body(k2s));
    }
    bool has(const std::string& key) const { return fs::exists(root() / key); }
    GcOptions options() const {
        GcOptions opt;
        opt.now = at_day(k_today);
        opt.tmp_dir = tmp();
        return opt;
    }
};

} // namespace

TEST_CASE("remote gc: least recently used packs go first, manifests with them", "[remote_gc]") {
    Remote r;
    auto old = r.add("old", 1000);
    auto never = r.add("never", 1000, k_today - 200);
    auto mid = r.add("mid", 1000);
    auto fresh = r.add("fresh", 1000);
    r.used(k_today - 30, k_machine_a, {old, fresh});
    r.used(k_today - 5, k_machine_a, {mid});
    r.used(k_today, k_machine_b, {fresh}); // the newest day any machine listed it counts

    auto opt = r.options();
    opt.max_size = 2100; // room for two packs and their manifests
    opt.dry_run = true;
    auto dry = gc(*r.b, opt);
    REQUIRE(dry);
    CHECK(dry->packs == 4);
    CHECK(dry->access_objects == 3);
    CHECK(dry->warnings.empty());
    REQUIRE(dry->victims.size() == 2);
    CHECK(dry->victims[0].pack_key == pack_key("never", never));
    CHECK(dry->victims[0].last_day == k_today - 200);
    CHECK(dry->victims[1].pack_key == pack_key("old", old));
    CHECK(dry->victims[1].last_day == k_today - 30);
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
    CHECK(r.has(pack_key("mid", mid)));
    CHECK(r.has(pack_key("fresh", fresh)));
    CHECK(r.has(manifest_key("fresh", "1.0.0", hash::of("k1 fresh"), fresh)));
    CHECK(r.has(access_key(k_today - 30, k_machine_a))); // within the 90 days kept without --max-age
}

TEST_CASE("remote gc: a pack's upload day counts as a use", "[remote_gc]") {
    Remote r;
    auto pushed_today = r.add("new", 10, k_today);
    auto stale = r.add("stale", 10, k_today - 20);
    auto opt = r.options();
    opt.max_age = std::chrono::days(10);
    auto done = gc(*r.b, opt);
    REQUIRE(done);
    REQUIRE(done->victims.size() == 1);
    CHECK(!r.has(pack_key("stale", stale)));
    CHECK(r.has(pack_key("new", pushed_today)));
}

TEST_CASE("remote gc: --max-age, orphan manifests, old access objects, and no limit", "[remote_gc]") {
    Remote r;
    auto old = r.add("old", 10);
    auto mid = r.add("mid", 10);
    r.used(k_today - 30, k_machine_a, {old});
    r.used(k_today - 5, k_machine_a, {mid});
    r.used(k_today - 120, k_machine_b, {mid}); // past the 90 days kept without --max-age
    // A manifest whose pack is gone.
    write_file(r.root() / manifest_key("lost", "1", hash::of("a"), hash::of("b")), "m");

    auto opt = r.options();
    auto none = gc(*r.b, opt);
    REQUIRE(none);
    CHECK(none->victims.empty());
    CHECK(none->orphan_manifests == 1);
    CHECK(none->stale_access == 1);
    CHECK(!r.has(manifest_key("lost", "1", hash::of("a"), hash::of("b"))));
    CHECK(!r.has(access_key(k_today - 120, k_machine_b)));

    opt.max_age = std::chrono::days(10);
    auto aged = gc(*r.b, opt);
    REQUIRE(aged);
    REQUIRE(aged->victims.size() == 1);
    CHECK(!r.has(pack_key("old", old)));
    CHECK(r.has(pack_key("mid", mid)));
    CHECK(!r.has(access_key(k_today - 30, k_machine_a))); // older than --max-age
    CHECK(r.has(access_key(k_today - 5, k_machine_a)));
}

TEST_CASE("remote gc: bad access objects are skipped with a warning", "[remote_gc]") {
    Remote r;
    auto used = r.add("used", 10);
    write_file(r.root() / access_key(k_today, k_machine_a), "not a digest\n");
    write_file(r.root() / access_key(k_today, k_machine_b), used.hex()); // no final newline
    write_file(r.root() / "v1/access/yesterday/x", "");
    auto opt = r.options();
    opt.max_age = std::chrono::days(10);
    opt.dry_run = true;
    auto report = gc(*r.b, opt);
    REQUIRE(report);
    CHECK(report->warnings.size() == 3);
    CHECK(report->access_objects == 0);
    REQUIRE(report->victims.size() == 1); // no valid use: it falls back to its upload day
}

TEST_CASE("access log: keys, days and bodies", "[remote_gc]") {
    CHECK(day_text(0) == "1970-01-01");
    CHECK(parse_day_text(day_text(k_today)) == k_today);
    CHECK(!parse_day_text("2026-02-31"));
    CHECK(!parse_day_text("2026-1-01"));
    auto key = access_key(k_today, k_machine_a);
    auto parsed = parse_access_key(key);
    REQUIRE(parsed);
    CHECK(parsed->day == k_today);
    CHECK(parsed->machine == k_machine_a);
    CHECK(!parse_access_key("v1/access/" + day_text(k_today) + "/" + std::string(32, 'G')));
    CHECK(!parse_access_key("v1/access/" + day_text(k_today) + "/../x"));
    std::set<hash::Digest> s{hash::of("a"), hash::of("b")};
    auto back = parse_access_body(access_body(s));
    REQUIRE(back);
    CHECK(*back == s);
    CHECK(!parse_access_body(hash::of("a").hex() + "\nzz\n"));
    CHECK(!parse_access_body(std::string(k_max_access_object_bytes + 1, 'a')));
}

TEST_CASE("access log: a recorder writes one merged object per machine per day", "[remote_gc]") {
    Remote r;
    AccessRecorder rec;
    CHECK(!rec.dirty());
    auto a = hash::of("a"), b = hash::of("b"), c = hash::of("c");
    rec.record(a, at_day(k_today));
    rec.record_manifest_key(manifest_key("x", "1", hash::of("k1"), b), at_day(k_today));
    rec.record_manifest_key("v1/packs/not-a-manifest", at_day(k_today));
    CHECK(rec.dirty());
    auto n = rec.flush(*r.b, k_machine_a, r.tmp(), at_day(k_today));
    REQUIRE(n);
    CHECK(*n == 1);
    CHECK(!rec.dirty());
    auto key = access_key(k_today, k_machine_a);
    CHECK(read_access(*r.b, key, r.tmp()).value_or(std::set<hash::Digest>{}) == std::set<hash::Digest>{a, b});

    // Nothing new: nothing written (the object removed behind its back stays gone).
    fs::remove(r.root() / key);
    rec.record(a, at_day(k_today));
    CHECK(!rec.dirty());
    // What the machine wrote earlier that day (another process) is kept.
    r.used(k_today, k_machine_a, {c});
    AccessRecorder other;
    other.record(a, at_day(k_today));
    other.record(b, at_day(k_today + 1));
    n = other.flush(*r.b, k_machine_a, r.tmp(), at_day(k_today + 1));
    REQUIRE(n);
    CHECK(*n == 2);
    CHECK(read_access(*r.b, key, r.tmp()).value_or(std::set<hash::Digest>{}) == std::set<hash::Digest>{a, c});
    CHECK(read_access(*r.b, access_key(k_today + 1, k_machine_a), r.tmp()).value_or(std::set<hash::Digest>{}) == std::set<hash::Digest>{b});
    // Nothing left in the tmp dir.
    CHECK(fs::is_empty(r.tmp()));
}

TEST_CASE("access log: the machine id is created once, private", "[remote_gc]") {
    TempDir sdir;
    auto store = kache::test::open_store(sdir.path() / "store");
    auto id = machine_id(store);
    REQUIRE(id);
    CHECK(id->size() == k_machine_id_chars);
    CHECK(machine_id(store).value_or("") == *id);
    auto path = store.root() / k_machine_id_file;
    CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
    write_file(path, "garbage");
    auto fresh = machine_id(store);
    REQUIRE(fresh);
    CHECK(*fresh != *id);
    CHECK(machine_id(store).value_or("") == *fresh);
}

TEST_CASE("S3 listings' LastModified", "[remote_gc]") {
    using kache::remote::detail::parse_iso8601_utc;
    CHECK(parse_iso8601_utc("1970-01-02T00:00:00Z") == 86400);
    CHECK(parse_iso8601_utc("2026-12-06T16:26:14.000Z") == parse_iso8601_utc("2026-12-06T16:26:14Z"));
    CHECK(parse_iso8601_utc("2026-12-06T16:26:14Z") / 86400 == *parse_day_text("2026-12-06"));
    CHECK(parse_iso8601_utc("") == 0);
    CHECK(parse_iso8601_utc("2026-12-06T16:26:14") == 0);
    CHECK(parse_iso8601_utc("2026-13-06T16:26:14Z") == 0);
    CHECK(parse_iso8601_utc("2026-12-06T16:26:14.Z") == 0);
    CHECK(parse_iso8601_utc("2026-12-06T17:26:14+01:00") == parse_iso8601_utc("2026-12-06T16:26:14Z"));
    CHECK(parse_iso8601_utc("6268-12-03T17:26:15Z") == 0);
}

TEST_CASE("remote gc: a settled day's access objects become one", "[remote][gc]") {
    Remote r;
    auto a = r.add("a", 100), b = r.add("b", 100), c = r.add("c", 100);
    // Three ephemeral runners five days ago, and two today (today's are left alone).
    const std::string m1(32, '1'), m2(32, '2'), m3(32, '3');
    r.used(k_today - 5, m1, {a});
    r.used(k_today - 5, m2, {b});
    r.used(k_today - 5, m3, {a, b});
    r.used(k_today, k_machine_a, {c});
    r.used(k_today, k_machine_b, {c});
    const std::string combined = access_key(k_today - 5, std::string(32, '0'));

    SECTION("a dry run changes nothing") {
        auto opt = r.options();
        opt.dry_run = true;
        auto rep = gc(*r.b, opt);
        REQUIRE(rep);
        CHECK(rep->compacted_access == 0);
        CHECK_FALSE(r.has(combined));
        CHECK(r.has(access_key(k_today - 5, m1)));
    }
    SECTION("combined, the originals removed, the uses kept") {
        auto rep = gc(*r.b, r.options());
        REQUIRE(rep);
        CHECK(rep->errors.empty());
        CHECK(rep->compacted_access == 3);
        REQUIRE(r.has(combined));
        for (auto& m : {m1, m2, m3}) CHECK_FALSE(r.has(access_key(k_today - 5, m)));
        CHECK(r.has(access_key(k_today, k_machine_a)));
        CHECK(r.has(access_key(k_today, k_machine_b)));
        auto body = parse_access_body(kache::remote::test::read_file(r.root() / combined));
        REQUIRE(body);
        CHECK(*body == std::set<hash::Digest>{a, b});
        // The next GC reads one object for that day and judges the packs the same: with
        // a 7-day age every pack was used within it; with 3 days, a and b go, c stays.
        auto opt = r.options();
        opt.max_age = std::chrono::days(7);
        opt.dry_run = true;
        auto again = gc(*r.b, opt);
        REQUIRE(again);
        CHECK(again->access_objects == 3);
        CHECK(again->victims.empty());
        opt.max_age = std::chrono::days(3);
        auto shorter = gc(*r.b, opt);
        REQUIRE(shorter);
        CHECK(shorter->victims.size() == 2);
    }
}

TEST_CASE("access log: an oversized access object in a shared directory is refused before it is copied",
          "[remote_gc]") {
    // Another writer can put a huge (or sparse) file at a machine's access key; it is refused
    // by its size, read in place, with nothing written to the temp folder.
    Remote r;
    const std::string key = access_key(k_today, k_machine_a);
    fs::create_directories((r.root() / key).parent_path());
    {
        std::FILE* f = std::fopen((r.root() / key).c_str(), "w");
        REQUIRE(f);
        std::fclose(f);
    }
    fs::resize_file(r.root() / key, 1ull << 30); // 1 GiB, sparse
    // Any copy of it would pass this file size limit and fail with EFBIG (SIGXFSZ ignored).
    struct rlimit old_limit{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &old_limit) == 0);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit small = old_limit;
    small.rlim_cur = 64ull << 20;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
    auto used = read_access(*r.b, key, r.tmp());
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    REQUIRE_FALSE(used);
    INFO(used.error().message);
    CHECK(used.error().message.find("is larger than") != std::string::npos);
    CHECK(fs::is_empty(r.tmp()));
    // A GC reads the listing's size first and skips it with a warning.
    auto opt = r.options();
    opt.dry_run = true;
    auto report = gc(*r.b, opt);
    REQUIRE(report);
    CHECK(report->warnings.size() == 1);
}
