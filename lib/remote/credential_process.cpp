// A profile's credential_process: run `sh -c <command>`, bounded in time and output, and
// read the JSON it prints (untrusted: a helper script may print anything).
#include <kache/remote/credentials.hpp>

#include <kache/util/fs.hpp>
#include <kache/util/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace kache::remote {

namespace {

using util::UniqueFd;

// What the process wrote to stderr is quoted in an error up to this many bytes.
inline constexpr std::size_t k_max_quoted_stderr = 300;

std::string last_line(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    if (auto nl = s.rfind('\n'); nl != std::string::npos) s = s.substr(nl + 1);
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = ' ';
    return s.substr(0, k_max_quoted_stderr);
}

// Kills and reaps the child's process group when the run ends early.
struct ChildGuard {
    pid_t pid = -1;
    int status = 0;
    ~ChildGuard() {
        if (pid <= 0) return;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    // Waits for the exit until deadline; false if it has not exited by then.
    bool reap_by(std::chrono::steady_clock::time_point deadline) {
        for (;;) {
            pid_t r = ::waitpid(pid, &status, WNOHANG);
            if (r == pid) {
                pid = -1;
                return true;
            }
            if (r < 0 && errno != EINTR) return false;
            if (std::chrono::steady_clock::now() >= deadline) return false;
            ::usleep(5'000);
        }
    }
};

} // namespace

Result<Credentials> parse_process_credentials(std::string_view json, std::string source) {
    if (json.size() > k_max_credential_reply)
        return fail(ErrorKind::invalid_input, source + " printed more than " + std::to_string(k_max_credential_reply) +
                                                  " bytes");
    while (!json.empty() && (json.back() == '\n' || json.back() == '\r' || json.back() == ' ')) json.remove_suffix(1);
    while (!json.empty() && (json.front() == '\n' || json.front() == ' ')) json.remove_prefix(1);
    auto obj = util::parse_flat_json(json);
    if (!obj) return fail(ErrorKind::invalid_input, source + " did not print a flat JSON object: " + obj.error().message);
    auto str = [&](const char* k) -> std::optional<std::string> {
        auto it = obj->find(k);
        if (it == obj->end() || it->second.kind != util::JsonScalar::Kind::string) return std::nullopt;
        return it->second.text;
    };
    auto version = obj->find("Version");
    if (version == obj->end() || version->second.kind != util::JsonScalar::Kind::number || version->second.text != "1")
        return fail(ErrorKind::invalid_input, source + " printed no \"Version\": 1");
    Credentials c;
    c.source = std::move(source);
    auto ak = str("AccessKeyId");
    auto sk = str("SecretAccessKey");
    if (!ak || !sk || ak->empty() || sk->empty())
        return fail(ErrorKind::invalid_input, c.source + " printed no AccessKeyId or no SecretAccessKey");
    c.access_key = *ak;
    c.secret_key = *sk;
    c.session_token = str("SessionToken").value_or("");
    if (auto exp = str("Expiration"); exp && !exp->empty()) {
        auto t = parse_iso8601(*exp);
        if (!t) return fail(ErrorKind::invalid_input, c.source + ": Expiration: " + t.error().message);
        c.expiration = *t;
    }
    return c;
}

Result<Credentials> run_credential_process(const std::string& command, std::string source,
                                           std::chrono::milliseconds timeout) {
    const std::string fix = "; fix credential_process in the profile";
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(ErrorKind::io, "cannot make a pipe: " + std::string(std::strerror(errno)));
    UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail(ErrorKind::io, "cannot make a pipe: " + std::string(std::strerror(errno)));
    UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
    // Its own process group, so that a timeout kills whatever the shell started too.
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    const char* argv[] = {"sh", "-c", command.c_str(), nullptr};
    ChildGuard child;
    int rc = ::posix_spawn(&child.pid, "/bin/sh", &fa, &attr, const_cast<char* const*>(argv), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        child.pid = -1;
        return fail(ErrorKind::io, "cannot run /bin/sh for " + source + ": " + std::strerror(rc));
    }
    out_w.reset();
    err_w.reset();

    std::string out, err;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool out_open = true, err_open = true;
    char buf[4096];
    while (out_open || err_open) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0)
            return fail(ErrorKind::timeout, source + " did not finish within " +
                                                std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s" + fix);
        pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(ErrorKind::io, "poll: " + std::string(std::strerror(errno)));
        for (int i = 0; i < 2; ++i) {
            if (!fds[i].revents) continue;
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
            if (got <= 0) {
                (i == 0 ? out_open : err_open) = false;
                continue;
            }
            std::string& to = i == 0 ? out : err;
            if (to.size() + std::size_t(got) > k_max_credential_reply) {
                if (i == 0)
                    return fail(ErrorKind::invalid_input, source + " printed more than " +
                                                              std::to_string(k_max_credential_reply) + " bytes" + fix);
                continue; // stderr beyond the bound is dropped
            }
            to.append(buf, std::size_t(got));
        }
    }
    if (!child.reap_by(deadline))
        return fail(ErrorKind::timeout, source + " did not exit within " +
                                            std::to_string(timeout.count() / 1000.0).substr(0, 4) + " s" + fix);
    if (!WIFEXITED(child.status) || WEXITSTATUS(child.status) != 0) {
        std::string why = WIFEXITED(child.status) ? "exited with status " + std::to_string(WEXITSTATUS(child.status))
                                                  : "was killed by a signal";
        std::string said = last_line(err);
        return fail(ErrorKind::denied, source + " " + why + (said.empty() ? "" : " (" + said + ")") + fix);
    }
    auto creds = parse_process_credentials(out, source);
    if (!creds) return fail(ErrorKind::invalid_input, creds.error().message + fix);
    return creds;
}

} // namespace kache::remote
