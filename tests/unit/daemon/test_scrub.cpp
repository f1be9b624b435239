// The daemon's background scrub (lib/daemon/scrub.cpp): it finds a blob whose bytes
// rotted with its stamp kept, removes it with the entries that name it, logs it, and
// remembers where it got to so that a restart carries on instead of starting over.
#include "../../../lib/daemon/log.hpp"
#include "../../../lib/daemon/scrub.hpp"

#include "../core_test_support.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <thread>

using namespace kache;
using kache::test::open_store;
using kache::test::read_file;
using kache::test::TempDir;
using kache::test::write_file;
namespace fs = std::filesystem;

namespace {

void flip_byte(const fs::path& p) {
    ::chmod(p.c_str(), 0644);
    int fd = ::open(p.c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    char c = 0;
    REQUIRE(::pread(fd, &c, 1, 0) == 1);
    c = static_cast<char>(c ^ 1);
    REQUIRE(::pwrite(fd, &c, 1, 0) == 1);
    ::close(fd);
}

daemon::ScrubSettings at_rate(std::uint64_t rate) {
    daemon::ScrubSettings s;
    s.rate = rate;
    return s;
}

bool wait_for(const std::function<bool()>& done) {
    for (int i = 0; i < 1200; ++i) { // up to 30 s: the test machines are shared
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    return done();
}

} // namespace

TEST_CASE("scrub: a corrupt blob and its entry are removed and logged", "[daemon][scrub]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    std::vector<hash::Digest> blobs;
    for (unsigned i = 0; i < 5; ++i) {
        auto d = s.put_blob(kache::test::random_bytes(10000, i));
        REQUIRE(d);
        blobs.push_back(*d);
    }
    store::Entry e;
    e.crate = "victim";
    e.k1 = hash::of("k1");
    e.k2 = hash::of("k2");
    e.outputs.push_back({"libvictim.rlib", blobs[2], 10000, 0644, false});
    REQUIRE(s.write_entry(e));
    flip_byte(s.blob_path(blobs[2]));

    daemon::Log log;
    log.open(dir / "kached.log", false, daemon::LogLevel::warn);
    daemon::Scrubber scrub(s, log, at_rate(1ull << 30));
    scrub.start();
    REQUIRE(wait_for([&] { return scrub.blobs_checked() == 5; }));
    scrub.stop();
    CHECK(scrub.corrupt_found() == 1);
    CHECK_FALSE(s.has_blob(blobs[2]));
    CHECK_FALSE(s.has_entry(e.k2));
    for (unsigned i = 0; i < 5; ++i)
        if (i != 2) CHECK(s.has_blob(blobs[i]));
    auto text = read_file(dir / "kached.log");
    CHECK(text.find("scrub: blob " + blobs[2].hex() + " was corrupt") != std::string::npos);
    CHECK(text.find("victim") != std::string::npos);
    CHECK(read_file(s.root() / "scrub-position").rfind("done ", 0) == 0);
}

TEST_CASE("scrub: a restart carries on where the last run got to", "[daemon][scrub]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    std::vector<hash::Digest> blobs;
    for (unsigned i = 0; i < 6; ++i) {
        auto d = s.put_blob(kache::test::random_bytes(5000, 100 + i));
        REQUIRE(d);
        blobs.push_back(*d);
    }
    std::sort(blobs.begin(), blobs.end(), [](auto& a, auto& b) { return a.hex() < b.hex(); });
    // The last run got as far as the third blob; the first one rotted since.
    flip_byte(s.blob_path(blobs[0]));
    write_file(s.root() / "scrub-position", "at " + blobs[2].hex() + "\n");

    daemon::Log log;
    daemon::Scrubber scrub(s, log, at_rate(1ull << 30));
    scrub.start();
    REQUIRE(wait_for([&] { return read_file(s.root() / "scrub-position").rfind("done ", 0) == 0; }));
    scrub.stop();
    CHECK(scrub.blobs_checked() == 3); // only those after the position
    CHECK(s.has_blob(blobs[0]));       // found by the next pass, not this one
}

TEST_CASE("scrub: the rate bounds how fast it reads, and stop returns promptly", "[daemon][scrub]") {
    TempDir dir;
    auto s = open_store(dir / "store");
    for (unsigned i = 0; i < 4; ++i) REQUIRE(s.put_blob(kache::test::random_bytes(1 << 20, 200 + i)));
    daemon::Log log;
    // 1 MiB/s over 4 MiB: about four seconds for the pass.
    daemon::Scrubber scrub(s, log, at_rate(1 << 20));
    scrub.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    auto t0 = std::chrono::steady_clock::now();
    scrub.stop();
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(5)); // one chunk, with slack for a loaded machine
    CHECK(scrub.blobs_checked() <= 2);
    // It saved where it got to (or nothing yet, if still in the first blob).
    if (scrub.blobs_checked() > 0) CHECK(read_file(s.root() / "scrub-position").rfind("at ", 0) == 0);

    daemon::Scrubber off(s, log, at_rate(0));
    off.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(off.blobs_checked() == 0);
}
