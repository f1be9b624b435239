#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace kache::util {

namespace {

std::vector<char*> c_argv(const std::vector<std::string>& argv) {
    std::vector<char*> out;
    out.reserve(argv.size() + 1);
    for (auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
    out.push_back(nullptr);
    return out;
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

// Spawns argv with stdout/stderr on pipes; stdin from /dev/null unless inherit_stdin.
Result<ChildResult> spawn_and_collect(const std::vector<std::string>& argv, bool inherit_stdin, bool tee,
                                      const LineFilter& filter) {
    if (argv.empty()) return fail(ErrorKind::internal, "empty command line");
    int out_pipe[2], err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) return fail(ErrorKind::io, std::string("pipe: ") + std::strerror(errno));
    UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) return fail(ErrorKind::io, std::string("pipe: ") + std::strerror(errno));
    UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!inherit_stdin) posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
    posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);

    auto args = c_argv(argv);
    pid_t pid = -1;
    int rc = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return fail(ErrorKind::not_found, "cannot run " + argv[0] + ": " + std::strerror(rc));
    out_w.reset();
    err_w.reset();

    ChildResult result;
    std::string pending[2]; // partial lines waiting for their newline (filtered mode)
    auto pass = [&](int i, std::string_view chunk, bool flush) {
        if (!tee) return;
        if (!filter) {
            write_all(i == 0 ? 1 : 2, chunk);
            return;
        }
        pending[i].append(chunk);
        size_t start = 0, nl;
        std::string out;
        while ((nl = pending[i].find('\n', start)) != std::string::npos) {
            out += filter(std::string_view(pending[i]).substr(start, nl + 1 - start));
            start = nl + 1;
        }
        pending[i].erase(0, start);
        if (flush && !pending[i].empty()) {
            out += filter(pending[i]);
            pending[i].clear();
        }
        if (!out.empty()) write_all(i == 0 ? 1 : 2, out);
    };
    struct pollfd fds[2] = {{out_r.get(), POLLIN, 0}, {err_r.get(), POLLIN, 0}};
    int open_count = 2;
    char buf[1 << 16];
    while (open_count > 0) {
        int n = ::poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) {
                fds[i].fd = -1;
                --open_count;
                pass(i, {}, true);
                continue;
            }
            std::string_view chunk(buf, static_cast<size_t>(got));
            (i == 0 ? result.out : result.err).append(chunk);
            pass(i, chunk, false);
        }
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return fail(ErrorKind::io, std::string("waitpid: ") + std::strerror(errno));
    }
    result.exit_code = decode_status(status);
    return result;
}

} // namespace

Error exec_replace(const std::vector<std::string>& argv) {
    if (argv.empty()) return Error{ErrorKind::internal, "empty command line"};
    auto args = c_argv(argv);
    ::execvp(args[0], args.data());
    return Error{ErrorKind::not_found, "cannot run " + argv[0] + ": " + std::strerror(errno)};
}

Result<ChildResult> run_capture(const std::vector<std::string>& argv) {
    return spawn_and_collect(argv, false, false, {});
}

Result<ChildResult> run_tee(const std::vector<std::string>& argv, const LineFilter& filter) {
    return spawn_and_collect(argv, true, true, filter);
}

std::string which(const std::string& name) {
    if (name.find('/') != std::string::npos) return name;
    const char* path = std::getenv("PATH");
    if (!path) return name;
    for (auto& dir : split_list(path, ':')) {
        std::string candidate = dir + "/" + name;
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return name;
}

} // namespace kache::util
