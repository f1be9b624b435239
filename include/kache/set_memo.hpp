// kache/set_memo.hpp — the stamps under which an input set's files were last
// seen to hold the set's digests, so the next lookup of the same invocation
// checks each file with one stat instead of opening and hashing it.
//
//   key::SetMemo memo(store.seen_dir());
//   auto stamps = memo.load(k1, k2, set.files.size());   // empty: none
//   ... a file whose stamp equals stamps[i] holds set.files[i].digest ...
//   memo.save(k1, k2, now_stamps);
//
// It trusts a stamp exactly as the stat-keyed digest cache does (device, inode,
// size, mtime and ctime, none of them within the racy window when recorded),
// so it serves no answer that cache would not; it only saves the per-file
// open, read and close. One small file per K1 in a private store directory;
// a missing, torn or foreign file only costs the usual hashing.
#pragma once

#include <kache/hash.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

namespace kache::key {

class SetMemo {
public:
    // Largest input set remembered (a bigger one is hashed every time).
    static constexpr std::size_t k_max_files = 1 << 16;

    // racy_window: hash::FileHashCache::k_racy_window but in tests.
    explicit SetMemo(std::filesystem::path dir,
                     std::chrono::nanoseconds racy_window = hash::FileHashCache::k_racy_window)
        : dir_(std::move(dir)), racy_window_ns_(racy_window.count()) {}

    // The stamps recorded for k1's set k2 with n files (in the set's order); empty
    // when there are none, or they were written for another set, or the file is
    // damaged. A stamp of all zeros means "not remembered: hash this file".
    std::vector<util::FileStamp> load(const hash::Digest& k1, const hash::Digest& k2, std::size_t n) const;

    // The stamps in a memo file's bytes (untrusted: a store file), as load() reads
    // them; empty unless it holds exactly n stamps for k2 and its digest checks.
    static std::vector<util::FileStamp> parse(std::string_view bytes, const hash::Digest& k2, std::size_t n);

    // Records stamps (the set's order) for k1's set k2, replacing what was there.
    // Best effort: a failure only means the next lookup hashes.
    void save(const hash::Digest& k1, const hash::Digest& k2, std::span<const util::FileStamp> stamps) const;

    // Whether a stamp may be remembered now: it last changed before the racy
    // window, so any later write moves it.
    bool settled(const util::FileStamp& st, std::int64_t now_ns) const {
        return st.changed_before(now_ns - racy_window_ns_);
    }

    // Whether st is what a remembered stamp says (the mode is not compared: it
    // cannot change without the ctime).
    static bool same(const util::FileStamp& remembered, const util::FileStamp& st);

    std::filesystem::path path_of(const hash::Digest& k1) const;

private:
    std::filesystem::path dir_;
    std::int64_t racy_window_ns_;
};

} // namespace kache::key
