// Pack format, inside one zstd stream:
//   "KPACK1\n"
//   u32 length, entry text (store::serialize_entry)
//   u32 blob count
//   per blob: 16 digest bytes, u64 size, size bytes
// Integers are little-endian.
#include <kache/remote/pack.hpp>
#include <kache/util/fs.hpp>

#include <zstd.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <vector>

namespace kache::remote {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_magic = "KPACK1\n";
// Bytes copied at a time between a blob file and a pack.
constexpr std::size_t k_copy_chunk_bytes = 1 << 17;
// The largest zstd window a pack may ask its reader for (8 MiB): packs are written at
// level 3, whose window is 2 MiB; room is left for higher levels.
constexpr int k_max_window_log = 23;
// Beyond ZSTD_compressBound: the frame header and checksum, with room to spare.
constexpr std::uint64_t k_frame_slack_bytes = 4096;

struct CctxDeleter {
    void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DctxDeleter {
    void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

void put_u32(std::string& s, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}
void put_u64(std::string& s, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
}

// Compresses everything written to it into a file.
class PackWriter {
public:
    explicit PackWriter(int fd, int level) : fd_(fd), cctx_(ZSTD_createCCtx()), out_(ZSTD_CStreamOutSize(), '\0') {
        ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_compressionLevel, level);
        // The frame checksum covers the entry text, which no other hash does: without it a
        // flipped byte could rename an output or change its mode and still unpack.
        ZSTD_CCtx_setParameter(cctx_.get(), ZSTD_c_checksumFlag, 1);
    }
    Result<void> write(std::string_view data) { return pump(data, ZSTD_e_continue); }
    Result<void> finish() { return pump({}, ZSTD_e_end); }
    std::uint64_t written() const { return written_; }

private:
    Result<void> pump(std::string_view data, ZSTD_EndDirective mode) {
        ZSTD_inBuffer in{data.data(), data.size(), 0};
        while (true) {
            ZSTD_outBuffer out{out_.data(), out_.size(), 0};
            size_t left = ZSTD_compressStream2(cctx_.get(), &out, &in, mode);
            if (ZSTD_isError(left)) return fail(ErrorKind::internal, std::string("zstd: ") + ZSTD_getErrorName(left));
            if (out.pos && !util::write_all(fd_, std::string_view(out_.data(), out.pos)))
                return fail(ErrorKind::io, std::string("cannot write pack: ") + std::strerror(errno));
            written_ += out.pos;
            bool done = mode == ZSTD_e_end ? left == 0 : in.pos == in.size;
            if (done) return ok();
        }
    }
    int fd_;
    std::unique_ptr<ZSTD_CCtx, CctxDeleter> cctx_;
    std::string out_;
    std::uint64_t written_ = 0;
};

// What a thread keeps from one pack to the next: the decompression context and its
// buffers. A fresh context allocates its window (megabytes), and every page of it and
// of the buffers is faulted in again, for every pack a pull or prefetch reads.
struct ReaderState {
    std::unique_ptr<ZSTD_DCtx, DctxDeleter> dctx{ZSTD_createDCtx()};
    std::vector<char> in = std::vector<char>(ZSTD_DStreamInSize());
    std::vector<char> out = std::vector<char>(ZSTD_DStreamOutSize());
    bool busy = false;
    ReaderState() {
        // A pack's frame names the window its reader must allocate (zstd allows 128 MiB by
        // default, per reading thread); ours are written with 2 MiB windows (level 3).
        if (dctx) ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, k_max_window_log);
    }
};

// Decompresses a file on demand, handing out exactly the bytes asked for.
class PackReader {
public:
    // max_out: the most decompressed bytes the pack may hold; past it the pack is corrupt,
    // whatever its headers say, before the bytes are handed out. max_in: the most bytes of
    // the file read (zstd's skippable frames decompress to nothing, and a file may grow).
    PackReader(int fd, std::uint64_t max_out, std::uint64_t max_in) : fd_(fd), max_in_(max_in), max_out_(max_out) {
        thread_local ReaderState shared;
        if (shared.busy) own_ = std::make_unique<ReaderState>();
        st_ = own_ ? own_.get() : &shared;
        st_->busy = true;
        if (st_->dctx) ZSTD_DCtx_reset(st_->dctx.get(), ZSTD_reset_session_only);
    }
    ~PackReader() { st_->busy = false; }
    PackReader(const PackReader&) = delete;
    PackReader& operator=(const PackReader&) = delete;

    // Reads exactly n bytes into dst; ErrorKind::corrupt if the stream ends first.
    Result<void> read(char* dst, size_t n) {
        while (n > 0) {
            if (out_pos_ < out_len_) {
                size_t take = std::min(n, out_len_ - out_pos_);
                std::memcpy(dst, st_->out.data() + out_pos_, take);
                out_pos_ += take;
                dst += take;
                n -= take;
                continue;
            }
            if (auto r = refill(); !r) {
                // A clean end of the zstd stream in the middle of a field is a short pack.
                if (r.error().kind == ErrorKind::not_found) return fail(ErrorKind::corrupt, "pack is truncated");
                return r;
            }
        }
        return ok();
    }
    // True if the stream has no bytes left (and ended cleanly).
    Result<bool> at_end() {
        if (out_pos_ < out_len_) return false;
        auto r = refill();
        if (!r) {
            if (r.error().kind == ErrorKind::not_found) return true;
            return std::unexpected(r.error());
        }
        return out_pos_ >= out_len_;
    }

private:
    // not_found: clean end of stream; corrupt: truncated or bad data.
    Result<void> refill() {
        out_len_ = out_pos_ = 0;
        if (!st_->dctx) return fail(ErrorKind::internal, "zstd: cannot create a decompression context");
        while (true) {
            if (in_buf_.pos == in_buf_.size) {
                ssize_t got = ::read(fd_, st_->in.data(), st_->in.size());
                if (got < 0) {
                    if (errno == EINTR) continue;
                    return fail(ErrorKind::io, std::string("cannot read pack: ") + std::strerror(errno));
                }
                if (got == 0) {
                    if (!frame_done_) return fail(ErrorKind::corrupt, "pack is truncated");
                    return fail(ErrorKind::not_found, "end of pack");
                }
                if ((consumed_ += static_cast<std::uint64_t>(got)) > max_in_)
                    return fail(ErrorKind::corrupt, "bad pack: it is larger than its contents can compress to");
                in_buf_ = {st_->in.data(), static_cast<size_t>(got), 0};
            }
            ZSTD_outBuffer out{st_->out.data(), st_->out.size(), 0};
            size_t ret = ZSTD_decompressStream(st_->dctx.get(), &out, &in_buf_);
            if (ZSTD_isError(ret)) return fail(ErrorKind::corrupt, std::string("pack is not valid zstd: ") + ZSTD_getErrorName(ret));
            frame_done_ = ret == 0;
            if ((produced_ += out.pos) > max_out_) return fail(ErrorKind::corrupt, "bad pack: it unpacks to too many bytes");
            if (out.pos > 0) {
                out_len_ = out.pos;
                return ok();
            }
        }
    }
    int fd_;
    std::unique_ptr<ReaderState> own_; // only when this thread's state is in use already
    ReaderState* st_ = nullptr;
    ZSTD_inBuffer in_buf_{nullptr, 0, 0};
    size_t out_len_ = 0;
    size_t out_pos_ = 0;
    std::uint64_t max_in_;
    std::uint64_t consumed_ = 0;
    std::uint64_t max_out_;
    std::uint64_t produced_ = 0;
    bool frame_done_ = false;
};

std::uint32_t get_u32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint64_t get_u64(const unsigned char* p) {
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
    return v;
}

// The blobs an entry references, with the size each must have (unknown: UINT64_MAX).
std::map<hash::Digest, std::uint64_t> referenced_blobs(const store::Entry& e) {
    std::map<hash::Digest, std::uint64_t> out;
    for (auto& d : e.blobs()) out.emplace(d, UINT64_MAX);
    for (auto& o : e.outputs) out[o.blob] = o.size; // an output's size is declared
    return out;
}

// The mode an imported blob is stored with: that of the first output it holds, as a
// blob recorded locally keeps its output's mode. A restore hardlinks blobs into the
// first tree, and rustc refuses to compile over an output it cannot write ("output
// file ... is not writeable"). Group and other bits are dropped (the store is private);
// stdout and stderr blobs, never linked, stay read-only.
mode_t blob_mode(const store::Entry& e, const hash::Digest& d) {
    for (auto& o : e.outputs)
        if (o.blob == d) return static_cast<mode_t>((o.mode & 0700) | 0400);
    return util::k_private_read_only_mode;
}

// Bytes a pack holds besides blob contents, at most: the magic, the entry text and its
// length, the blob count, and one 24-byte header per blob.
std::uint64_t framing_bytes(const PackLimits& l) {
    return k_magic.size() + 8 + l.max_entry_bytes + 24ull * l.max_blobs;
}

} // namespace

PackLimits PackLimits::for_max_size(std::uint64_t max_size) {
    PackLimits l;
    if (max_size == 0) return l;
    l.max_total_bytes = std::min(l.max_total_bytes, max_size / k_pack_share_of_store);
    l.max_blob_bytes = std::min(l.max_blob_bytes, l.max_total_bytes);
    return l;
}

Result<std::uint64_t> pack(const store::Store& store, const store::Entry& e, const fs::path& dest, int level) {
    int fd = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, util::k_private_file_mode);
    if (fd < 0) return fail(ErrorKind::io, "cannot create " + dest.string() + ": " + std::strerror(errno));
    util::UniqueFd owner(fd);
    PackWriter w(fd, level);
    std::string head(k_magic);
    std::string entry = store::serialize_entry(e);
    put_u32(head, static_cast<std::uint32_t>(entry.size()));
    head += entry;
    auto blobs = referenced_blobs(e);
    put_u32(head, static_cast<std::uint32_t>(blobs.size()));
    if (auto r = w.write(head); !r) return std::unexpected(r.error());
    // Per thread, not per pack: a block this size is its own mapping, faulted in anew each time.
    alignas(64) static thread_local std::array<char, k_copy_chunk_bytes> buf;
    for (auto& [digest, _] : blobs) {
        int bfd = ::open(store.blob_path(digest).c_str(), O_RDONLY | O_CLOEXEC);
        if (bfd < 0) return fail(ErrorKind::not_found, "blob " + digest.hex() + " of " + e.crate + " is missing");
        util::UniqueFd bowner(bfd);
        struct stat st {};
        ::fstat(bfd, &st);
        std::string bh(reinterpret_cast<const char*>(digest.bytes.data()), 16);
        put_u64(bh, static_cast<std::uint64_t>(st.st_size));
        if (auto r = w.write(bh); !r) return std::unexpected(r.error());
        std::uint64_t left = static_cast<std::uint64_t>(st.st_size);
        hash::Hasher check;
        while (left > 0) {
            ssize_t got = ::read(bfd, buf.data(), std::min<std::uint64_t>(buf.size(), left));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) return fail(ErrorKind::io, "blob " + digest.hex() + " changed while packing");
            std::string_view chunk(buf.data(), static_cast<size_t>(got));
            check.update(chunk);
            if (auto r = w.write(chunk); !r) return std::unexpected(r.error());
            left -= static_cast<std::uint64_t>(got);
        }
        // Never upload a blob that went bad on this disk.
        if (check.finish() != digest) return fail(ErrorKind::corrupt, "blob " + digest.hex() + " is corrupt; not packed");
    }
    if (auto r = w.finish(); !r) return std::unexpected(r.error());
    return w.written();
}

std::uint64_t max_pack_bytes(const PackLimits& limits) {
    return ZSTD_compressBound(limits.max_total_bytes + framing_bytes(limits)) + k_frame_slack_bytes;
}

Result<store::Entry> unpack(store::Store& store, const fs::path& src, const hash::Digest& expected_k2,
                            const PackLimits& limits, std::optional<hash::Digest> expected_k1) {
    int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(ErrorKind::io, "cannot open pack " + src.string() + ": " + std::strerror(errno));
    util::UniqueFd owner(fd);
    return unpack(store, fd, expected_k2, limits, expected_k1);
}

Result<store::Entry> unpack(store::Store& store, int fd, const hash::Digest& expected_k2, const PackLimits& limits,
                            std::optional<hash::Digest> expected_k1) {
    const std::uint64_t max_out = limits.max_total_bytes + framing_bytes(limits);
    // What max_out bytes can compress to at worst: a larger file is not a pack of ours, and
    // is refused before it is read through.
    const std::uint64_t max_in = max_pack_bytes(limits);
    auto bad = [](std::string why) { return fail(ErrorKind::corrupt, "bad pack: " + why); };
    struct stat st{};
    if (::fstat(fd, &st) == 0 && static_cast<std::uint64_t>(st.st_size) > max_in)
        return bad("it is larger than its contents can compress to (" + std::to_string(max_in) + " bytes)");
    PackReader r(fd, max_out, max_in);

    std::string magic(k_magic.size(), '\0');
    if (auto x = r.read(magic.data(), magic.size()); !x) return std::unexpected(x.error());
    if (magic != k_magic) return bad("unknown format");
    unsigned char n4[4];
    if (auto x = r.read(reinterpret_cast<char*>(n4), 4); !x) return std::unexpected(x.error());
    std::uint32_t entry_len = get_u32(n4);
    if (entry_len > limits.max_entry_bytes) return bad("entry too large");
    std::string text(entry_len, '\0');
    if (auto x = r.read(text.data(), text.size()); !x) return std::unexpected(x.error());
    auto entry = store::parse_entry(text);
    if (!entry) return bad(entry.error().message);
    if (entry->k2 != expected_k2) return bad("it holds entry " + entry->k2.hex() + ", not " + expected_k2.hex());
    if (expected_k1 && entry->k1 != *expected_k1) return bad("its entry belongs to another invocation key");
    auto wanted = referenced_blobs(*entry);
    // The sizes the entry declares are checked before a byte of blob is written, output by
    // output: a restore writes each output (a link, or a copy), so one blob named by many
    // outputs counts as many times.
    std::uint64_t declared = 0;
    for (auto& o : entry->outputs) {
        if (o.size > limits.max_blob_bytes || (declared += o.size) > limits.max_total_bytes)
            return bad("its outputs are larger than a pack may be (" + std::to_string(limits.max_total_bytes) +
                       " bytes, a quarter of max_size)");
    }

    if (auto x = r.read(reinterpret_cast<char*>(n4), 4); !x) return std::unexpected(x.error());
    std::uint32_t count = get_u32(n4);
    if (count > limits.max_blobs || count > wanted.size()) return bad("too many blobs");

    // Stage every blob in the store's tmp dir; commit only after all verify.
    std::vector<std::pair<hash::Digest, util::TempFile>> staged;
    std::set<hash::Digest> seen;
    std::uint64_t total = 0;
    // Per thread, not per pack: a block this size is its own mapping, faulted in anew each time.
    alignas(64) static thread_local std::array<char, k_copy_chunk_bytes> buf;
    for (std::uint32_t i = 0; i < count; ++i) {
        unsigned char head[24];
        if (auto x = r.read(reinterpret_cast<char*>(head), 24); !x) return std::unexpected(x.error());
        hash::Digest d;
        std::memcpy(d.bytes.data(), head, 16);
        std::uint64_t size = get_u64(head + 16);
        auto it = wanted.find(d);
        if (it == wanted.end()) return bad("blob " + d.hex() + " is not referenced by the entry");
        if (!seen.insert(d).second) return bad("blob " + d.hex() + " appears twice");
        if (it->second != UINT64_MAX && it->second != size) return bad("blob " + d.hex() + " has the wrong size");
        if (size > limits.max_blob_bytes || (total += size) > limits.max_total_bytes)
            return bad("blobs too large (more than " + std::to_string(limits.max_total_bytes) + " bytes)");
        auto tmp = util::TempFile::create(store.tmp_dir(), blob_mode(*entry, d));
        if (!tmp) return std::unexpected(tmp.error());
        hash::Hasher h;
        std::uint64_t left = size;
        while (left > 0) {
            size_t n = static_cast<size_t>(std::min<std::uint64_t>(buf.size(), left));
            if (auto x = r.read(buf.data(), n); !x) return std::unexpected(x.error());
            std::string_view chunk(buf.data(), n);
            h.update(chunk);
            if (auto x = tmp->write(chunk); !x) return std::unexpected(x.error());
            left -= n;
        }
        if (h.finish() != d) return bad("blob " + d.hex() + " does not match its hash");
        staged.emplace_back(d, std::move(*tmp));
    }
    auto end = r.at_end();
    if (!end) return std::unexpected(end.error());
    if (!*end) return bad("trailing data");
    // Blobs the pack left out must already be in the store (dedup across entries).
    for (auto& [d, _] : wanted)
        if (!seen.contains(d) && !store.has_blob(d)) return bad("blob " + d.hex() + " is missing");

    // Each blob was hashed once, as it streamed in: the digest cache is told, so the
    // first hit on it (which verifies blobs through that cache) does not read it again.
    hash::FileHashCache digests(store.hash_cache_dir(), store.tmp_dir());
    for (auto& [d, tmp] : staged) {
        fs::path dest = store.blob_path(d);
        if (store.has_blob(d)) continue; // the TempFile's destructor removes the staged copy
        auto c = util::make_parent_and_retry(dest, [&] { return tmp.commit_replace(dest); });
        if (!c) return std::unexpected(c.error());
        digests.remember(dest, d);
    }
    if (auto w = store.write_entry(*entry); !w) return std::unexpected(w.error());
    return entry;
}

std::string manifest_object(const key::InputSet& set) {
    store::Manifest m;
    m.sets.push_back(set);
    return store::serialize_manifest(m);
}

Result<key::InputSet> parse_manifest_object(std::string_view text) {
    auto m = store::parse_manifest(text);
    if (!m) return std::unexpected(m.error());
    if (m->sets.size() != 1) return fail(ErrorKind::corrupt, "a remote manifest must hold exactly one input set");
    return std::move(m->sets[0]);
}

} // namespace kache::remote
