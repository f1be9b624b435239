// What the S3 unit tests share beside the server itself (remote_test_support.hpp): a key
// prefix per test, a configuration for the loopback server, a backend made from it.
#pragma once

#include "remote_test_support.hpp"

#include <kache/remote/s3.hpp>

#include <atomic>
#include <memory>
#include <string>

namespace kache::remote::test {

// A key prefix of its own for each test, so that tests sharing the server never meet.
inline std::string unique_prefix(const std::string& name) {
    static std::atomic<int> n{0};
    return "t" + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-" + name;
}

inline S3Config config_for(const S3Server& s, const std::string& prefix) {
    S3Config c;
    c.endpoint = s.endpoint();
    c.bucket = s.bucket();
    c.region = s.region();
    c.prefix = prefix;
    c.access_key = s.access_key();
    c.secret_key = s.secret_key();
    c.credential_source = "the test";
    return c;
}

inline std::unique_ptr<S3Backend> make(const S3Config& c) {
    auto b = S3Backend::create(c);
    INFO((b ? std::string() : b.error().message));
    REQUIRE(b);
    return std::move(*b);
}

} // namespace kache::remote::test
