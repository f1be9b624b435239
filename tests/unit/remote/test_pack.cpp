// Packs (lib/remote/pack.cpp): a round trip between two stores, and hostile packs —
// truncated, corrupted, with unsafe names, extra or missing blobs, another K2 — each
// rejected with ErrorKind::corrupt and without changing the store. The hostile packs are
// written by hand in the documented format (one zstd stream of "KPACK1\n", u32 entry
// length, entry text, u32 blob count, then per blob 16 digest bytes, u64 size, bytes).
#include <kache/remote/pack.hpp>
#include <kache/store.hpp>

#include "remote_test_support.hpp"

#include <zstd.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>
#include <kache/hash.hpp>

#include <map>
#include <optional>

using namespace kache;
using namespace kache::remote;
using kache::remote::test::random_bytes;
using kache::remote::test::read_file;
using kache::remote::test::TempDir;
using kache::remote::test::write_file;
namespace fs = std::filesystem;
using kache::test::open_store;

namespace {

hash::Digest put(store::Store& s, const std::string& bytes) {
    auto d = s.put_blob(bytes);
    INFO((d ? std::string() : d.error().message));
    REQUIRE(d);
    return *d;
}

// The contents an entry's blobs hold, by digest.
using Contents = std::map<hash::Digest, std::string>;

// An entry as the wrapper records one: outputs of several kinds, stdout and stderr.
// big_blobs adds a 1 MiB rlib so that blobs cross the streaming buffers.
store::Entry make_entry(store::Store& s, Contents& contents, bool big_blobs, const std::string& tag = "serde") {
    auto add = [&](std::string bytes) {
        auto d = put(s, bytes);
        contents[d] = std::move(bytes);
        return d;
    };
    store::Entry e;
    e.crate = tag;
    e.version = "1.0.152";
    e.k1 = hash::of("k1 of " + tag);
    e.k2 = hash::of("k2 of " + tag);
    std::string rlib = big_blobs ? random_bytes(1 << 20, 11) : "!<arch>\nrlib of " + tag;
    std::string rmeta = big_blobs ? random_bytes(70'000, 12) : std::string("rust\0\0\0meta of ", 16) + tag;
    std::string dep = "{{kache:target}}/debug/deps/lib" + tag + ".rlib: {{kache:cwd}}/src/lib.rs\n";
    std::string exe = "\x7f" "ELF executable of " + tag;
    auto rlib_d = add(rlib), rmeta_d = add(rmeta), dep_d = add(dep), exe_d = add(exe);
    e.outputs.push_back({"lib" + tag + "-0d7b.rlib", rlib_d, rlib.size(), 0644, false});
    e.outputs.push_back({"lib" + tag + "-0d7b.rmeta", rmeta_d, rmeta.size(), 0644, false});
    e.outputs.push_back({tag + "-0d7b.d", dep_d, dep.size(), 0644, true});
    e.outputs.push_back({tag + "-tool", exe_d, exe.size(), 0755, false});
    e.stdout_blob = add("{\"artifact\":\"" + tag + "\"}\n");
    e.stderr_blob = add("warning: unused variable `x` in " + tag + "\n");
    e.created_ms = 1'700'000'000'123;
    e.compile_ms = 4567;
    REQUIRE(s.write_entry(e));
    return e;
}

// Every file and directory under the store root except tmp/, with the size, mode and
// digest of each file: two equal snapshots mean nothing was added, removed or changed.
std::map<std::string, std::string> snapshot(const store::Store& s) {
    std::map<std::string, std::string> out;
    for (auto it = fs::recursive_directory_iterator(s.root()); it != fs::recursive_directory_iterator(); ++it) {
        fs::path rel = it->path().lexically_relative(s.root());
        if (rel == "tmp") {
            it.disable_recursion_pending();
            continue;
        }
        struct stat st {};
        REQUIRE(::lstat(it->path().c_str(), &st) == 0);
        if (S_ISDIR(st.st_mode)) {
            out[rel.string() + "/"] = "dir";
        } else {
            auto d = hash::of_file(it->path());
            REQUIRE(d);
            out[rel.string()] = std::to_string(st.st_size) + " " + std::to_string(st.st_mode & 07777) + " " + d->hex();
        }
    }
    return out;
}

// The names left in the store's tmp/ (there must be none after unpack returns).
std::vector<std::string> tmp_leftovers(const store::Store& s) {
    std::vector<std::string> out;
    for (auto& e : fs::directory_iterator(s.tmp_dir())) out.push_back(e.path().filename().string());
    return out;
}

void put_u32(std::string& s, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void put_u64(std::string& s, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

// One blob record of a hand-written pack.
struct RawBlob {
    hash::Digest digest;
    std::string bytes;
    std::optional<std::uint64_t> declared_size; // the size field, if it should lie
};

// The uncompressed pack body, field by field.
std::string raw_body(const std::string& entry_text, const std::vector<RawBlob>& blobs,
                     std::optional<std::uint32_t> declared_count = std::nullopt,
                     std::string_view magic = "KPACK1\n") {
    std::string out(magic);
    put_u32(out, static_cast<std::uint32_t>(entry_text.size()));
    out += entry_text;
    put_u32(out, declared_count.value_or(static_cast<std::uint32_t>(blobs.size())));
    for (const auto& b : blobs) {
        out.append(reinterpret_cast<const char*>(b.digest.bytes.data()), 16);
        put_u64(out, b.declared_size.value_or(b.bytes.size()));
        out += b.bytes;
    }
    return out;
}

// The records an honest pack of e holds (every blob it references, once).
std::vector<RawBlob> blobs_of(const store::Entry& e, const Contents& contents) {
    std::map<hash::Digest, std::string> m;
    for (auto& o : e.outputs) m[o.blob] = contents.at(o.blob);
    if (e.stdout_blob) m[*e.stdout_blob] = contents.at(*e.stdout_blob);
    if (e.stderr_blob) m[*e.stderr_blob] = contents.at(*e.stderr_blob);
    std::vector<RawBlob> out;
    for (auto& [d, bytes] : m) out.push_back({d, bytes, std::nullopt});
    return out;
}

std::string zstd_compress(const std::string& body) {
    std::string out(ZSTD_compressBound(body.size()), '\0');
    size_t n = ZSTD_compress(out.data(), out.size(), body.data(), body.size(), 3);
    REQUIRE_FALSE(ZSTD_isError(n));
    out.resize(n);
    return out;
}

// Decompresses a whole pack (a streamed frame does not record its size).
std::string zstd_decompress(const std::string& packed) {
    std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    std::string out;
    std::string buf(ZSTD_DStreamOutSize(), '\0');
    ZSTD_inBuffer in{packed.data(), packed.size(), 0};
    while (in.pos < in.size) {
        ZSTD_outBuffer o{buf.data(), buf.size(), 0};
        size_t r = ZSTD_decompressStream(dctx.get(), &o, &in);
        REQUIRE_FALSE(ZSTD_isError(r));
        out.append(buf.data(), o.pos);
    }
    return out;
}

// Unpacks bytes (written to a file beside the stores) and requires a rejection as corrupt
// that leaves the store exactly as it was and tmp/ empty.
void expect_rejected(store::Store& s, const fs::path& file, const std::string& bytes, const hash::Digest& k2,
                     const std::string& what) {
    INFO("pack: " << what);
    write_file(file, bytes);
    auto before = snapshot(s);
    auto r = unpack(s, file, k2);
    REQUIRE_FALSE(r);
    INFO("error: " << to_string(r.error().kind) << ": " << r.error().message);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(snapshot(s) == before);
    CHECK(tmp_leftovers(s).empty());
}

void check_same_entry(const store::Entry& a, const store::Entry& b) {
    CHECK(store::serialize_entry(a) == store::serialize_entry(b));
}

} // namespace

TEST_CASE("pack: round trip into an empty store", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/true);

    auto size = pack(a, e, dir / "e.pack");
    REQUIRE(size);
    CHECK(*size == fs::file_size(dir / "e.pack"));
    CHECK(*size < e.total_size() + 4096); // random data: compression gains nothing, costs little

    auto got = unpack(b, dir / "e.pack", e.k2);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got);
    check_same_entry(*got, e);
    auto stored = b.read_entry(e.k2);
    REQUIRE(stored);
    check_same_entry(*stored, e);
    CHECK(tmp_leftovers(b).empty());

    // Every blob byte-identical; an output's blob has its owner bits (a restore links it
    // into a tree, where rustc must be able to compile over it), stdout/stderr read-only.
    for (auto& [d, bytes] : contents) {
        REQUIRE(b.has_blob(d));
        CHECK(read_file(b.blob_path(d)) == bytes);
        unsigned want = 0400;
        for (auto& o : e.outputs)
            if (o.blob == d) {
                want = (o.mode & 0700) | 0400;
                break;
            }
        INFO("blob " << d.hex());
        CHECK((static_cast<unsigned>(fs::status(b.blob_path(d)).permissions()) & 0777) == want);
    }
    fs::create_directories(dir / "out");
    for (auto& o : stored->outputs) {
        auto placed = b.restore_file(o.blob, dir / "out" / o.name, o.mode, store::Placement::copy_only);
        REQUIRE(placed);
        CHECK(read_file(dir / "out" / o.name) == contents.at(o.blob));
    }
    CHECK(b.usage().blobs == contents.size());
    CHECK(b.usage().entries == 1);

    // Unpacking the same pack again is harmless.
    auto again = unpack(b, dir / "e.pack", e.k2);
    REQUIRE(again);
    CHECK(b.usage().blobs == contents.size());
    CHECK(tmp_leftovers(b).empty());
}

TEST_CASE("pack: blobs already in the store may be left out of a pack", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    Contents contents;
    auto e = make_entry(a, contents, false);
    auto all = blobs_of(e, contents);
    std::vector<RawBlob> without_first(all.begin() + 1, all.end());
    std::string text = store::serialize_entry(e);

    // b lacks the blob: the pack is incomplete.
    expect_rejected(b, dir / "p", zstd_compress(raw_body(text, without_first)), e.k2, "a referenced blob missing");

    // b has it (another entry shares it): the pack is fine.
    put(b, all.front().bytes);
    write_file(dir / "p", zstd_compress(raw_body(text, without_first)));
    auto got = unpack(b, dir / "p", e.k2);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got);
    for (auto& [d, bytes] : contents) CHECK(read_file(b.blob_path(d)) == bytes);
}

TEST_CASE("pack: hostile packs are rejected and change nothing", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/true);
    REQUIRE(pack(a, e, dir / "good.pack"));
    const std::string good = read_file(dir / "good.pack");
    const std::string body = zstd_decompress(good);
    const std::string text = store::serialize_entry(e);
    const auto blobs = blobs_of(e, contents);
    REQUIRE(body == raw_body(text, blobs)); // the format is what pack.cpp documents

    // The target store holds an unrelated entry already: it must survive untouched.
    auto b = open_store(dir / "b");
    Contents other_contents;
    make_entry(b, other_contents, false, "other");
    const fs::path p = dir / "hostile.pack";

    SECTION("truncated") {
        for (size_t keep : {size_t(0), size_t(1), size_t(4), size_t(20), good.size() / 3, good.size() / 2,
                            good.size() - 100, good.size() - 5, good.size() - 1})
            expect_rejected(b, p, good.substr(0, keep), e.k2, "compressed pack cut to " + std::to_string(keep) + " bytes");
        // A well-formed zstd stream whose content stops early.
        for (size_t keep : {size_t(3), size_t(10), size_t(100), body.size() / 2, body.size() - 1})
            expect_rejected(b, p, zstd_compress(body.substr(0, keep)), e.k2,
                            "content cut to " + std::to_string(keep) + " bytes");
        expect_rejected(b, p, "", e.k2, "empty file");
    }

    SECTION("one corrupted byte in the zstd stream") {
        for (size_t at : {good.size() / 2, good.size() / 4, good.size() - 2}) {
            std::string bad = good;
            bad[at] = static_cast<char>(bad[at] ^ 0x10);
            expect_rejected(b, p, bad, e.k2, "byte " + std::to_string(at) + " of the compressed pack flipped");
        }
    }

    SECTION("one corrupted byte in a blob, recompressed") {
        for (size_t i = 0; i < blobs.size(); ++i) {
            auto bad = blobs;
            bad[i].bytes[bad[i].bytes.size() / 2] ^= 0x01;
            expect_rejected(b, p, zstd_compress(raw_body(text, bad)), e.k2, "blob " + std::to_string(i) + " corrupted");
        }
        // The last blob of the stream, in its last byte: nothing follows to catch it but the hash.
        auto bad = blobs;
        bad.back().bytes.back() ^= 0x40;
        expect_rejected(b, p, zstd_compress(raw_body(text, bad)), e.k2, "last byte of the last blob corrupted");
    }

    SECTION("an entry naming an unsafe output") {
        for (std::string name : {"../evil", "a/b", "/etc/passwd", "..", ".", ""}) {
            auto evil = e;
            evil.outputs[0].name = name;
            expect_rejected(b, p, zstd_compress(raw_body(store::serialize_entry(evil), blobs)), e.k2,
                            "output named '" + name + "'");
        }
        // Two outputs with one name: the second would overwrite the first on restore.
        auto twice = e;
        twice.outputs[1].name = twice.outputs[0].name;
        expect_rejected(b, p, zstd_compress(raw_body(store::serialize_entry(twice), blobs)), e.k2, "duplicate name");
    }

    SECTION("an extra blob the entry does not reference") {
        RawBlob extra{hash::of("unreferenced"), "unreferenced", std::nullopt};
        auto more = blobs;
        more.push_back(extra);
        expect_rejected(b, p, zstd_compress(raw_body(text, more)), e.k2, "one blob too many");
        auto swapped = blobs;
        swapped.back() = extra;
        expect_rejected(b, p, zstd_compress(raw_body(text, swapped)), e.k2, "a referenced blob replaced by another");
        auto dup = blobs;
        dup.back() = dup.front();
        expect_rejected(b, p, zstd_compress(raw_body(text, dup)), e.k2, "a blob twice");
    }

    SECTION("a pack claiming another K2") {
        expect_rejected(b, p, good, hash::of("some other k2"), "a good pack asked for under another K2");
        auto other = e;
        other.k2 = hash::of("some other k2");
        expect_rejected(b, p, zstd_compress(raw_body(store::serialize_entry(other), blobs)), e.k2,
                        "an entry whose k2 is not the expected one");
    }

    SECTION("malformed fields") {
        expect_rejected(b, p, zstd_compress(raw_body(text, blobs, std::nullopt, "KPACK2\n")), e.k2, "unknown magic");
        expect_rejected(b, p, "KPACK1\n" + body.substr(7), e.k2, "not compressed at all");
        expect_rejected(b, p, zstd_compress(raw_body("kache-entry 1\ngarbage\n", blobs)), e.k2, "entry text garbage");
        expect_rejected(b, p, zstd_compress(raw_body(text, blobs, 1u << 30)), e.k2, "absurd blob count");
        expect_rejected(b, p, zstd_compress(raw_body(text, blobs, static_cast<std::uint32_t>(blobs.size() + 1))), e.k2,
                        "count one more than the blobs present");
        auto lying = blobs;
        lying.front().declared_size = lying.front().bytes.size() + 1;
        expect_rejected(b, p, zstd_compress(raw_body(text, lying)), e.k2, "a size one byte too large");
        lying.front().declared_size = 1ull << 62;
        expect_rejected(b, p, zstd_compress(raw_body(text, lying)), e.k2, "a huge size");
        std::string huge_entry = "KPACK1\n";
        put_u32(huge_entry, 0xffffffffu);
        expect_rejected(b, p, zstd_compress(huge_entry + text), e.k2, "a 4 GiB entry length");
        expect_rejected(b, p, zstd_compress(body + "x"), e.k2, "trailing data after the blobs");
        expect_rejected(b, p, good + zstd_compress("x"), e.k2, "a second zstd frame with trailing data");
        expect_rejected(b, p, good + "garbage", e.k2, "garbage after the zstd frame");
    }

    CHECK(b.usage().entries == 1);
    CHECK_FALSE(b.has_entry(e.k2));
}

TEST_CASE("pack: every single-byte corruption of a pack is caught", "[pack]") {
    // A small pack, every byte flipped in turn: unpack must reject it (store unchanged),
    // or — where the flip does not change what the stream decodes to (zstd header
    // fields such as the window size) — produce exactly the original entry and blobs.
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, false);
    REQUIRE(pack(a, e, dir / "good.pack"));
    const std::string good = read_file(dir / "good.pack");
    const std::string text = store::serialize_entry(e);

    std::size_t rejected = 0, harmless = 0;
    std::optional<store::Store> b;
    std::map<std::string, std::string> empty;
    for (std::size_t at = 0; at < good.size(); ++at) {
        for (unsigned char mask : {0x01, 0x80}) {
            INFO("byte " << at << " of " << good.size() << " xor " << int(mask));
            std::string bad = good;
            bad[at] = static_cast<char>(bad[at] ^ mask);
            write_file(dir / "bad.pack", bad);
            if (!b) {
                fs::remove_all(dir / "b");
                b = open_store(dir / "b");
                empty = snapshot(*b);
            }
            auto r = unpack(*b, dir / "bad.pack", e.k2);
            CHECK(tmp_leftovers(*b).empty());
            if (!r) {
                INFO("error: " << r.error().message);
                CHECK(r.error().kind == ErrorKind::corrupt);
                CHECK(snapshot(*b) == empty);
                ++rejected;
            } else {
                CHECK(store::serialize_entry(*r) == text);
                for (auto& [d, bytes] : contents) CHECK(read_file(b->blob_path(d)) == bytes);
                ++harmless;
                b.reset(); // a fresh store for the next flip
            }
        }
    }
    INFO(rejected << " of " << 2 * good.size() << " single-byte flips rejected, " << harmless << " harmless");
    CHECK(rejected >= 2 * good.size() - 16);
}

TEST_CASE("pack: the limits follow max_size", "[pack]") {
    auto l = PackLimits::for_max_size(64ull << 20);
    CHECK(l.max_total_bytes == (16ull << 20));
    CHECK(l.max_blob_bytes == (16ull << 20));
    auto big = PackLimits::for_max_size(1ull << 50);
    CHECK(big.max_total_bytes == PackLimits{}.max_total_bytes);
    CHECK(big.max_blob_bytes == PackLimits{}.max_blob_bytes);
    CHECK(PackLimits::for_max_size(0).max_total_bytes == PackLimits{}.max_total_bytes);
}

TEST_CASE("pack: a pack larger than the store's share is rejected before its blobs are written", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/true); // a 1 MiB rlib
    REQUIRE(pack(a, e, dir / "good.pack"));
    auto b = open_store(dir / "b");
    const auto limits = PackLimits::for_max_size(2ull << 20); // a pack may hold 512 KiB

    // The entry declares more than the bound: nothing is staged at all.
    auto r = unpack(b, dir / "good.pack", e.k2, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(tmp_leftovers(b).empty());
    CHECK_FALSE(b.has_entry(e.k2));

    // Within the bound the good pack still unpacks.
    CHECK(unpack(b, dir / "good.pack", e.k2, PackLimits::for_max_size(64ull << 20)));
}

TEST_CASE("pack: unpack tells the digest cache what it hashed, so a first hit does not read the blobs again",
          "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    auto b = open_store(dir / "b");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/true);
    REQUIRE(pack(a, e, dir / "e.pack"));
    REQUIRE(unpack(b, dir / "e.pack", e.k2));
    hash::FileHashCache cache(b.hash_cache_dir(), b.tmp_dir());
    std::size_t big = 0;
    for (auto& [d, bytes] : contents) {
        if (bytes.size() < hash::FileHashCache::k_min_cached_size) continue;
        ++big;
        // Change a byte behind the cache's back (same size, mtime and inode): only a
        // remembered digest still answers d; a rehash would see the change.
        fs::path blob = b.blob_path(d);
        struct stat st {};
        REQUIRE(::stat(blob.c_str(), &st) == 0);
        fs::permissions(blob, fs::perms::owner_write, fs::perm_options::add);
        {
            std::fstream f(blob, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(0);
            f.put(static_cast<char>(bytes[0] ^ 1));
        }
        timespec times[2] = {st.st_atim, st.st_mtim};
        REQUIRE(::utimensat(AT_FDCWD, blob.c_str(), times, 0) == 0);
        auto got = cache.digest(blob, /*ignore_ctime=*/true);
        REQUIRE(got);
        CHECK(*got == d);
    }
    CHECK(big > 0);
}

TEST_CASE("pack: one blob named by many outputs counts once per output against the bound", "[pack]") {
    // A restore writes every output (a link, or a copy where linking is not allowed), so
    // a blob just under the bound, named by many outputs, would fill the target dir.
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/true); // a 1 MiB rlib
    const auto rlib = e.outputs[0];
    for (int i = 0; i < 4; ++i)
        e.outputs.push_back({"copy" + std::to_string(i) + ".rlib", rlib.blob, rlib.size, 0644, false});
    e.k2 = hash::of("k2 of the fan-out entry");
    REQUIRE(a.write_entry(e));
    REQUIRE(pack(a, e, dir / "fan.pack"));
    auto b = open_store(dir / "b");
    // 5 outputs of 1 MiB each: over a 4 MiB bound, though the distinct blobs are under it.
    const auto limits = PackLimits::for_max_size(16ull << 20);
    REQUIRE(limits.max_total_bytes == (4ull << 20));
    auto r = unpack(b, dir / "fan.pack", e.k2, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find("larger than a pack may be") != std::string::npos);
    CHECK(tmp_leftovers(b).empty());
    CHECK_FALSE(b.has_entry(e.k2));
    CHECK(unpack(b, dir / "fan.pack", e.k2, PackLimits::for_max_size(64ull << 20)));
}

TEST_CASE("pack: a file larger than its contents can compress to is refused unread", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/false);
    REQUIRE(pack(a, e, dir / "good.pack"));
    auto b = open_store(dir / "b");
    const auto limits = PackLimits::for_max_size(4ull << 20); // a pack may hold 1 MiB
    // zstd skippable frames decompress to nothing: 4 MiB of them after a good pack, more
    // than the 1 MiB of blobs and 1.1 MiB of framing it may hold can compress to.
    std::string skip;
    put_u32(skip, 0x184D2A50);
    put_u32(skip, (1u << 20) - 8);
    skip.resize(1u << 20, '\0');
    std::string padded = read_file(dir / "good.pack") + skip + skip + skip + skip;
    write_file(dir / "padded.pack", padded);
    auto r = unpack(b, dir / "padded.pack", e.k2, limits);
    REQUIRE_FALSE(r);
    CHECK(r.error().kind == ErrorKind::corrupt);
    CHECK(r.error().message.find("larger than its contents can compress to") != std::string::npos);
    CHECK_FALSE(b.has_entry(e.k2));
    CHECK(unpack(b, dir / "good.pack", e.k2, limits));
}

TEST_CASE("pack: a frame that asks for a window larger than ours is refused", "[pack]") {
    TempDir dir("kache-pack");
    auto a = open_store(dir / "a");
    Contents contents;
    auto e = make_entry(a, contents, /*big_blobs=*/false);
    const std::string body = raw_body(store::serialize_entry(e), blobs_of(e, contents));
    // Streamed with no size pledged, so the frame header declares the full 128 MiB window:
    // every reading thread would allocate that much.
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, 27);
    std::string out(ZSTD_compressBound(body.size()) + 1024, '\0');
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    ZSTD_outBuffer o{out.data(), out.size(), 0};
    REQUIRE_FALSE(ZSTD_isError(ZSTD_compressStream2(cctx.get(), &o, &in, ZSTD_e_continue)));
    ZSTD_inBuffer none{nullptr, 0, 0};
    REQUIRE(ZSTD_compressStream2(cctx.get(), &o, &none, ZSTD_e_end) == 0);
    out.resize(o.pos);
    auto b = open_store(dir / "b");
    expect_rejected(b, dir / "wide.pack", out, e.k2, "a 128 MiB window");
    // The same body with an ordinary window unpacks.
    write_file(dir / "narrow.pack", zstd_compress(body));
    CHECK(unpack(b, dir / "narrow.pack", e.k2));
}
