// tests/aws/metadata-emulator.py as an RAII object: a loopback stand-in for the container
// credential endpoint and the EC2 instance metadata service, started per test.
#pragma once

#include "remote_test_support.hpp"

#include "../../../lib/remote/curl_transport.hpp"

#include <kache/util/json.hpp>

namespace kache::remote::test {

class MetadataEmulator {
public:
    // mode "ecs" or "imds"; extra: more command-line options (--fault hang, --auth-token T, ...).
    explicit MetadataEmulator(const std::string& mode, std::vector<std::string> extra = {})
        : dir_("kache-metadata-emu") {
        fs::path ready = dir_ / "port";
        std::vector<std::string> args = {
            "python3", (fs::path(env_or_fail("KACHE_SOURCE_ROOT")) / "tests" / "aws" / "metadata-emulator.py").string(),
            "--mode", mode, "--ready-file", ready.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = posix_spawnp(&pid_, "python3", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        REQUIRE(rc == 0);
        // Python starts slowly on a loaded machine.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (true) {
            std::ifstream in(ready);
            std::string port;
            if (in >> port && !port.empty()) {
                origin_ = "http://127.0.0.1:" + port;
                break;
            }
            INFO("emulator log:\n" << read_file(dir_ / "log"));
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }
    ~MetadataEmulator() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    MetadataEmulator(const MetadataEmulator&) = delete;
    MetadataEmulator& operator=(const MetadataEmulator&) = delete;

    const std::string& origin() const { return origin_; } // http://127.0.0.1:PORT
    const fs::path& dir() const { return dir_.path(); }

    // How many requests "METHOD path" the emulator answered.
    int calls(const std::string& method_and_path) const {
        detail::CurlTransport t(detail::TransportOptions{std::chrono::seconds(5), std::chrono::seconds(5), 1,
                                                          detail::k_first_byte_timeout, {}});
        detail::HttpRequest req;
        req.method = "GET";
        req.url = origin_ + "/__calls";
        auto resp = t.perform(req);
        REQUIRE(resp);
        REQUIRE(resp->status == 200);
        auto obj = util::parse_flat_json(resp->body);
        REQUIRE(obj);
        auto it = obj->find(method_and_path);
        return it == obj->end() ? 0 : std::stoi(it->second.text);
    }

private:
    TempDir dir_;
    pid_t pid_ = -1;
    std::string origin_;
};

} // namespace kache::remote::test
