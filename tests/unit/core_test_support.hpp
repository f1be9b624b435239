// Helpers shared by the core unit tests: temp directories and small file I/O.
#pragma once

#include <kache/store.hpp>

#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

namespace kache::test {

namespace fs = std::filesystem;

// A fresh directory under /tmp (mkdtemp), removed with everything in it on destruction.
class TempDir {
public:
    explicit TempDir(const std::string& tag = "kache-unit") {
        std::string tmpl = "/tmp/" + tag + ".XXXXXX";
        char* made = ::mkdtemp(tmpl.data());
        REQUIRE(made != nullptr);
        path_ = made;
    }
    ~TempDir() {
        std::error_code ec;
        // Blobs are read-only; root ignores that, but make removal work for anyone.
        for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec))
            ::chmod(it->path().c_str(), it->is_directory(ec) ? 0755 : 0644);
        fs::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const fs::path& path() const { return path_; }
    fs::path operator/(const fs::path& p) const { return path_ / p; }

private:
    fs::path path_;
};

// Opens (creating) a store, failing the test with the store's own message.
inline store::Store open_store(const fs::path& root) {
    auto s = store::Store::open(root);
    INFO((s ? std::string() : s.error().message));
    REQUIRE(s);
    return std::move(*s);
}

inline void write_file(const fs::path& p, const std::string& data) {
    fs::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    REQUIRE(out);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    out.close();
    REQUIRE(out);
}

inline std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    REQUIRE(in);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Deterministic pseudo-random bytes.
inline std::string random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
}

inline struct stat stat_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st;
}

// Sets (or unsets, with nullptr) an environment variable for one scope, restoring
// the previous value afterwards.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = std::string(old), had_ = true;
        if (value) ::setenv(name, value, 1);
        else ::unsetenv(name);
    }
    ~ScopedEnv() {
        if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
        else ::unsetenv(name_.c_str());
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    std::string name_;
    std::string old_;
    bool had_ = false;
};

} // namespace kache::test
