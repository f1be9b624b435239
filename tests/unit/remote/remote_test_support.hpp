// Helpers for the remote backend tests: temp directories, files, and the loopback S3 server
// (tests/s3/start-s3-server.sh) and fault proxy (tests/s3/fault-proxy.py) as RAII objects.
#pragma once

#include "../core_test_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace kache::remote::test {

namespace fs = std::filesystem;

// Temp directories and file helpers are the core tests' own.
using kache::test::random_bytes;
using kache::test::read_file;
using kache::test::TempDir;
using kache::test::write_file;

// The directory holding an executable called name on PATH, or "".
inline std::string which(const std::string& name) {
    const char* path = std::getenv("PATH");
    if (!path) return "";
    std::stringstream ss(path);
    for (std::string dir; std::getline(ss, dir, ':');) {
        if (dir.empty()) continue;
        fs::path p = fs::path(dir) / name;
        if (::access(p.c_str(), X_OK) == 0) return p.string();
    }
    return "";
}

inline std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    return out + "'";
}

inline std::string env_or_fail(const char* name) {
    const char* v = std::getenv(name);
    INFO("environment variable " << name << " (meson test sets it)");
    REQUIRE(v != nullptr);
    return v;
}

inline fs::path s3_scripts_dir() { return fs::path(env_or_fail("KACHE_SOURCE_ROOT")) / "tests" / "s3"; }

// npm installs the server here, in the build tree: the source tree stays clean.
inline fs::path s3_install_prefix() { return fs::path(env_or_fail("KACHE_BUILD_ROOT")) / "s3-server"; }

// True when node and npm are installed; otherwise the S3 tests are skipped with a warning.
// Runs a shell command; its wait status and what it printed.
struct CommandOutput {
    int status = -1;
    std::string out;
};
inline CommandOutput run_command(const std::string& cmd) {
    CommandOutput r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.out.append(buf, n);
    r.status = ::pclose(p);
    return r;
}

inline bool have_node() { return !which("node").empty() && !which("npm").empty(); }

// Undoes bash's printf %q for the simple values the start script prints (paths, numbers,
// words): backslash escapes, and $'...' strings.
inline std::string unquote_shell(std::string v) {
    if (v.size() >= 3 && v.starts_with("$'") && v.back() == '\'') v = v.substr(2, v.size() - 3);
    std::string out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) ++i;
        out.push_back(v[i]);
    }
    return out;
}

// A loopback S3 server (s3rver behind tests/s3/s3rver-strict.js), started by the start
// script and stopped by the stop script when this object dies.
class S3Server {
public:
    // Starts a server with the given buckets (and extra start-s3-server.sh flags, e.g.
    // "--vhost"); FAILs the test if it cannot.
    explicit S3Server(const std::vector<std::string>& buckets = {"kache-test"},
                      const std::vector<std::string>& extra_args = {})
        : data_("kache-s3-data"), scripts_(s3_scripts_dir()) {
        std::string cmd = "bash " + shell_quote((scripts_ / "start-s3-server.sh").string()) + " --prefix " +
                          shell_quote(s3_install_prefix().string()) + " --data " +
                          shell_quote((data_.path() / "s3").string());
        for (const auto& b : buckets) cmd += " --bucket " + shell_quote(b);
        for (const auto& a : extra_args) cmd += " " + shell_quote(a);
        auto [status, out] = run_command(cmd);
        INFO("start-s3-server.sh printed:\n" << out);
        REQUIRE(status == 0);
        std::stringstream ss(out);
        for (std::string line; std::getline(ss, line);) {
            if (!line.starts_with("export ")) continue;
            auto eq = line.find('=');
            if (eq == std::string::npos) continue;
            vars_[line.substr(7, eq - 7)] = unquote_shell(line.substr(eq + 1));
        }
        REQUIRE(vars_.count("S3_ENDPOINT") == 1);
        REQUIRE(vars_.count("S3_SERVER_PIDFILE") == 1);
    }

    ~S3Server() { stop(); }
    S3Server(const S3Server&) = delete;
    S3Server& operator=(const S3Server&) = delete;

    // Stops the server (idempotent). Uses nothing of Catch: the shared server is stopped at
    // exit, after Catch has shut down.
    void stop() {
        if (stopped_) return;
        stopped_ = true;
        std::string cmd = "bash " + shell_quote((scripts_ / "stop-s3-server.sh").string()) + " " +
                          shell_quote(var("S3_SERVER_PIDFILE"));
        if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "warning: %s failed\n", cmd.c_str());
    }

    std::string var(const std::string& name) const {
        auto it = vars_.find(name);
        return it == vars_.end() ? std::string() : it->second;
    }
    std::string endpoint() const { return var("S3_ENDPOINT"); }      // http://127.0.0.1:PORT
    std::string host_port() const { return endpoint().substr(std::string("http://").size()); }
    std::string bucket() const { return var("S3_BUCKET"); }
    std::string access_key() const { return var("AWS_ACCESS_KEY_ID"); }
    std::string secret_key() const { return var("AWS_SECRET_ACCESS_KEY"); }
    std::string region() const { return var("S3_REGION"); }
    std::string log_path() const { return var("S3_SERVER_LOG"); }

private:
    TempDir data_;
    fs::path scripts_;
    std::map<std::string, std::string> vars_;
    bool stopped_ = false;
};

// tests/s3/fault-proxy.py in front of a server: a real TCP proxy whose behaviour per new
// connection is read from a mode file ("ok", "slowdown=1", "stall=1", ...).
class FaultProxy {
public:
    explicit FaultProxy(const std::string& upstream_host_port) : dir_("kache-fault-proxy") {
        mode_file_ = dir_ / "mode";
        port_file_ = dir_ / "port";
        log_file_ = dir_ / "proxy.log";
        set_mode("ok");
        std::vector<std::string> args = {"python3",     (s3_scripts_dir() / "fault-proxy.py").string(),
                                         "--upstream",  upstream_host_port,
                                         "--mode-file", mode_file_.string(),
                                         "--port-file", port_file_.string()};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&fa, 2, log_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        int rc = posix_spawnp(&pid_, "python3", &fa, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&fa);
        REQUIRE(rc == 0);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
        while (true) {
            std::ifstream in(port_file_);
            std::string port;
            if (in >> port && !port.empty()) {
                endpoint_ = "http://127.0.0.1:" + port;
                break;
            }
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    ~FaultProxy() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
        }
    }
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    // Applies to connections opened from now on.
    void set_mode(const std::string& mode) {
        // Write then rename: the proxy must never read a half-written mode file.
        fs::path tmp = dir_ / "mode.tmp";
        write_file(tmp, mode + "\n");
        fs::rename(tmp, mode_file_);
    }

    const std::string& endpoint() const { return endpoint_; }

    // How many connections the proxy handled with the given action ("slowdown", "forward", ...).
    int count(const std::string& did) const {
        std::ifstream in(log_file_);
        std::string needle = "\"did\": \"" + did + "\"";
        int n = 0;
        for (std::string line; std::getline(in, line);)
            if (line.find(needle) != std::string::npos) ++n;
        return n;
    }

    // count(did) once it reaches at least n, or after a few seconds: the proxy logs a
    // connection only when both of its directions have closed, a moment after the client.
    int wait_count(const std::string& did, int n) const {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (count(did) < n && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return count(did);
    }

private:
    TempDir dir_;
    fs::path mode_file_, port_file_, log_file_;
    pid_t pid_ = -1;
    std::string endpoint_;
};

} // namespace kache::remote::test
