// The shared-directory backend: every operation, atomic writes, racing writers, key
// validation, and the "file" scheme of the registry.
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/filesystem.hpp>
#include <kache/remote/read_only.hpp>

#include "remote_test_support.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <thread>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::read_file;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<FilesystemBackend> make_backend(const fs::path& root) {
    auto b = FilesystemBackend::create(root);
    INFO((b ? std::string() : b.error().message));
    REQUIRE(b);
    return std::move(*b);
}

std::vector<std::string> keys_of(const std::vector<ObjectInfo>& objs) {
    std::vector<std::string> out;
    for (const auto& o : objs) out.push_back(o.key);
    return out;
}

} // namespace

TEST_CASE("fs remote: round trip of every operation", "[fs_remote]") {
    TempDir root("kache-fsr-root"), work("kache-fsr-work");
    auto b = make_backend(root.path());
    CHECK(b->describe() == "file://" + root.path().string());

    const std::string key = "v1/packs/serde/0123abcd.pack";
    const std::string body = kache::remote::test::random_bytes(300'000, 1);
    write_file(work / "src", body);

    auto e = b->exists(key);
    REQUIRE(e);
    CHECK_FALSE(*e);

    REQUIRE(b->put(key, work / "src", Overwrite::no));
    CHECK(fs::exists(root.path() / key));
    e = b->exists(key);
    REQUIRE(e);
    CHECK(*e);

    REQUIRE(b->get(key, work / "dest"));
    CHECK(read_file(work / "dest") == body);

    // Overwrite::no leaves the object alone.
    write_file(work / "other", "other content");
    auto again = b->put(key, work / "other", Overwrite::no);
    REQUIRE_FALSE(again);
    CHECK(again.error().kind == ErrorKind::conflict);
    CHECK(read_file(root.path() / key) == body);

    // Overwrite::yes replaces it.
    REQUIRE(b->put(key, work / "other", Overwrite::yes));
    REQUIRE(b->get(key, work / "dest"));
    CHECK(read_file(work / "dest") == "other content");

    // An empty object is an object.
    write_file(work / "empty", "");
    REQUIRE(b->put("v1/manifests/serde/1.0.0/k1/k2", work / "empty", Overwrite::no));
    REQUIRE(b->get("v1/manifests/serde/1.0.0/k1/k2", work / "dest"));
    CHECK(read_file(work / "dest").empty());

    auto all = b->list("");
    REQUIRE(all);
    REQUIRE(all->size() == 2);
    CHECK((*all)[0].key == "v1/manifests/serde/1.0.0/k1/k2");
    CHECK((*all)[0].size == 0);
    CHECK((*all)[1].key == key);
    CHECK((*all)[1].size == std::string("other content").size());

    REQUIRE(b->remove(key));
    e = b->exists(key);
    REQUIRE(e);
    CHECK_FALSE(*e);
    CHECK(b->remove(key)); // removing a missing object succeeds

    // A failed get leaves no destination behind, not even an older file.
    write_file(work / "stale", "stale");
    auto missing = b->get(key, work / "stale");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::not_found);
    CHECK_FALSE(fs::exists(work / "stale"));
    // Local trouble is io, not a missing object.
    auto nodir = b->get("v1/manifests/serde/1.0.0/k1/k2", work / "no-such-dir" / "dest");
    REQUIRE_FALSE(nodir);
    CHECK(nodir.error().kind == ErrorKind::io);
    auto nosrc = b->put("v1/x", work / "no-such-file", Overwrite::yes);
    REQUIRE_FALSE(nosrc);
    CHECK(nosrc.error().kind == ErrorKind::io);
    // No temp files are left in the destination's directory either.
    for (const auto& entry : fs::directory_iterator(work.path()))
        CHECK_FALSE(entry.path().filename().string().starts_with(".kache"));
}

TEST_CASE("fs remote: listing by prefix walks only what can match", "[fs_remote]") {
    TempDir root("kache-fsr-root"), work("kache-fsr-work");
    auto b = make_backend(root.path());
    write_file(work / "x", "x");
    for (const char* k : {"v1/packs/serde/a.pack", "v1/packs/serde/b.pack", "v1/packs/serde_json/c.pack",
                          "v1/packs/tokio/d.pack", "v1/manifests/serde/1.0/k1/k2", "top"})
        REQUIRE(b->put(k, work / "x", Overwrite::no));
    // An in-progress write is invisible.
    write_file(root.path() / "v1/packs/serde/.kache-tmp.e.pack.ABCDEF", "partial");

    auto serde = b->list("v1/packs/serde/");
    REQUIRE(serde);
    CHECK(keys_of(*serde) == std::vector<std::string>{"v1/packs/serde/a.pack", "v1/packs/serde/b.pack"});

    auto partial = b->list("v1/packs/serde");
    REQUIRE(partial);
    CHECK(keys_of(*partial) ==
          std::vector<std::string>{"v1/packs/serde/a.pack", "v1/packs/serde/b.pack", "v1/packs/serde_json/c.pack"});

    auto packs = b->list("v1/packs/");
    REQUIRE(packs);
    CHECK(packs->size() == 4);

    auto all = b->list("");
    REQUIRE(all);
    CHECK(all->size() == 6);

    auto none = b->list("v2/");
    REQUIRE(none);
    CHECK(none->empty());
}

TEST_CASE("fs remote: a folder that is a symbolic link is never followed", "[fs_remote]") {
    // Anyone who can write the shared directory can put a link where a folder belongs.
    TempDir root("kache-fsr-root"), other("kache-fsr-other"), work("kache-fsr-work");
    auto b = make_backend(root.path());
    write_file(work / "x", "x");
    // A folder of someone else's (here another remote's), linked in as a crate's folder.
    write_file(other / "theirs.pack", "their bytes");
    fs::create_directories(root.path() / "v1/packs");
    fs::create_directory_symlink(other.path(), root.path() / "v1/packs/serde");
    // Two links back up: a walk that followed them would not end.
    fs::create_directory_symlink(".", root.path() / "v1/packs/loop1");
    fs::create_directory_symlink("..", root.path() / "v1/packs/loop2");
    REQUIRE(b->put("v1/packs/tokio/d.pack", work / "x", Overwrite::no));

    auto all = b->list("");
    REQUIRE(all);
    CHECK(keys_of(*all) == std::vector<std::string>{"v1/packs/tokio/d.pack"});
    auto serde = b->list("v1/packs/serde/");
    REQUIRE(serde);
    CHECK(serde->empty());

    const std::string theirs = "v1/packs/serde/theirs.pack";
    auto e = b->exists(theirs);
    CHECK((!e || !*e));
    CHECK_FALSE(b->open_local(theirs));
    CHECK_FALSE(b->get(theirs, work / "got"));
    CHECK_FALSE(fs::exists(work / "got"));
    // A removal does not reach through the link, and a write does not land there.
    (void)b->remove(theirs);
    CHECK(read_file(other / "theirs.pack") == "their bytes");
    auto put = b->put("v1/packs/serde/mine.pack", work / "x", Overwrite::no);
    REQUIRE_FALSE(put);
    CHECK(put.error().kind == ErrorKind::invalid_input);
    CHECK(put.error().message.find("symbolic link") != std::string::npos);
    CHECK_FALSE(fs::exists(other / "mine.pack"));
    std::size_t in_other = 0;
    for ([[maybe_unused]] const auto& f : fs::directory_iterator(other.path())) ++in_other;
    CHECK(in_other == 1);
    // Below a real folder, everything still works.
    auto d = b->open_local("v1/packs/tokio/d.pack");
    REQUIRE(d);
    CHECK(d->size == 1);
}

TEST_CASE("fs remote: keys are validated before the filesystem is touched", "[fs_remote]") {
    TempDir outer("kache-fsr-outer"), work("kache-fsr-work");
    fs::create_directory(outer.path() / "root");
    auto b = make_backend(outer.path() / "root");
    write_file(work / "x", "x");
    for (const char* bad : {"", "/etc/passwd", "../escape", "a/../../escape", "a//b", "a/./b", "a/", ".", "..",
                            "a\\b", "a\nb", "dir/.kache-tmp.x"}) {
        INFO("key '" << bad << "'");
        auto p = b->put(bad, work / "x", Overwrite::yes);
        REQUIRE_FALSE(p);
        CHECK(p.error().kind == ErrorKind::invalid_input);
        auto g = b->get(bad, work / "out");
        REQUIRE_FALSE(g);
        CHECK(g.error().kind == ErrorKind::invalid_input);
        CHECK_FALSE(b->exists(bad));
        CHECK_FALSE(b->remove(bad));
    }
    CHECK_FALSE(fs::exists(outer.path() / "escape"));
    CHECK(fs::is_empty(outer.path() / "root"));
    auto l = b->list("../");
    REQUIRE_FALSE(l);
    CHECK(l.error().kind == ErrorKind::invalid_input);
}

TEST_CASE("fs remote: racing writers with Overwrite::no, exactly one wins", "[fs_remote]") {
    TempDir root("kache-fsr-root"), work("kache-fsr-work");
    auto b = make_backend(root.path());
    constexpr int n = 8;
    for (int i = 0; i < n; ++i) write_file(work / ("src" + std::to_string(i)), "writer " + std::to_string(i));
    std::atomic<int> wins{0}, conflicts{0}, other{0}, winner{-1};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            while (!go) std::this_thread::yield();
            auto r = b->put("v1/packs/race/k.pack", work / ("src" + std::to_string(i)), Overwrite::no);
            if (r) {
                ++wins;
                winner = i;
            } else if (r.error().kind == ErrorKind::conflict) {
                ++conflicts;
            } else {
                ++other;
            }
        });
    go = true;
    for (auto& t : threads) t.join();
    CHECK(wins == 1);
    CHECK(conflicts == n - 1);
    CHECK(other == 0);
    REQUIRE(winner >= 0);
    CHECK(read_file(root.path() / "v1/packs/race/k.pack") == "writer " + std::to_string(winner.load()));
    auto l = b->list("v1/packs/race/");
    REQUIRE(l);
    CHECK(l->size() == 1); // and no temp files left behind
    CHECK(std::distance(fs::directory_iterator(root.path() / "v1/packs/race"), fs::directory_iterator()) == 1);
}

TEST_CASE("fs remote: configuration errors", "[fs_remote]") {
    TempDir dir("kache-fsr");
    auto rel = FilesystemBackend::create("relative/path");
    REQUIRE_FALSE(rel);
    CHECK(rel.error().kind == ErrorKind::config);
    auto missing = FilesystemBackend::create(dir.path() / "missing");
    REQUIRE_FALSE(missing);
    CHECK(missing.error().kind == ErrorKind::config);
    CHECK(missing.error().message.find("does not exist") != std::string::npos);
    write_file(dir / "file", "x");
    auto notdir = FilesystemBackend::create(dir / "file");
    REQUIRE_FALSE(notdir);
    CHECK(notdir.error().kind == ErrorKind::config);
}

TEST_CASE("fs remote: the file:// scheme and read-only specs", "[fs_remote]") {
    register_builtin_backends();
    auto schemes = Registry::instance().schemes();
    CHECK(std::find(schemes.begin(), schemes.end(), "file") != schemes.end());
    CHECK(std::find(schemes.begin(), schemes.end(), "s3") != schemes.end());

    TempDir root("kache-fsr root"), work("kache-fsr-work"); // a space, written %20 in the URL
    write_file(work / "x", "payload");
    std::string url = "file://" + root.path().string();
    auto sp = url.find(' ');
    REQUIRE(sp != std::string::npos);
    url.replace(sp, 1, "%20");

    auto rw = Registry::instance().create(RemoteSpec{url, {}, false});
    INFO((rw ? std::string() : rw.error().message));
    REQUIRE(rw);
    REQUIRE((*rw)->put("a/b", work / "x", Overwrite::no));
    CHECK(read_file(root.path() / "a/b") == "payload");

    auto ro = Registry::instance().create(RemoteSpec{url, {}, true});
    REQUIRE(ro);
    CHECK((*ro)->describe().find("read-only") != std::string::npos);
    auto p = (*ro)->put("a/c", work / "x", Overwrite::no);
    REQUIRE_FALSE(p);
    CHECK(p.error().kind == ErrorKind::denied);
    CHECK(p.error().message.find("KACHE_REMOTE_READONLY") != std::string::npos);
    auto r = (*ro)->remove("a/b");
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::denied);
    CHECK(fs::exists(root.path() / "a/b"));
    REQUIRE((*ro)->get("a/b", work / "got"));
    CHECK(read_file(work / "got") == "payload");

    auto bad = Registry::instance().create(RemoteSpec{"file://otherhost/x", {}, false});
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind == ErrorKind::config);
}

TEST_CASE("fs remote: a listing does not descend below the longest key", "[fs_remote]") {
    // Another writer may nest folders without end; no key can live that deep.
    TempDir root("kache-fsr-root"), work("kache-fsr-work");
    auto b = make_backend(root.path());
    write_file(work / "x", "x");
    REQUIRE(b->put("v1/packs/ok.pack", work / "x", Overwrite::no));
    std::string deep = "v1/packs";
    int fd = ::open(root.path().c_str(), O_RDONLY | O_DIRECTORY);
    REQUIRE(fd >= 0);
    for (const char* c : {"v1", "packs"}) {
        int next = ::openat(fd, c, O_RDONLY | O_DIRECTORY);
        ::close(fd);
        fd = next;
    }
    for (int i = 0; i < 600; ++i) { // 600 levels of "d/": 1200 bytes of key
        REQUIRE(::mkdirat(fd, "d", 0755) == 0);
        int next = ::openat(fd, "d", O_RDONLY | O_DIRECTORY);
        ::close(fd);
        REQUIRE(next >= 0);
        fd = next;
    }
    int f = ::openat(fd, "deep.pack", O_WRONLY | O_CREAT, 0644);
    REQUIRE(f >= 0);
    ::close(f);
    ::close(fd);
    auto all = b->list("");
    REQUIRE(all);
    CHECK(keys_of(*all) == std::vector<std::string>{"v1/packs/ok.pack"});
}
