#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
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

// Descriptors above this are closed one by one where close_range(2) is missing.
inline constexpr int k_max_fd_fallback = 65536;

// fd moved (close-on-exec) above the standard descriptors, so that setting up 0, 1 and 2
// in a child never overwrites a source it still needs.
int above_stdio(int fd) {
    if (fd < 0 || fd > 2) return fd;
    int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    ::close(fd);
    return moved;
}

// Reads exactly sizeof(int) bytes; false at EOF or on an error.
bool read_int(int fd, int& out) {
    char* p = reinterpret_cast<char*>(&out);
    std::size_t got = 0;
    while (got < sizeof out) {
        ssize_t n = ::read(fd, p + got, sizeof out - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += static_cast<std::size_t>(n);
    }
    return true;
}

} // namespace

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::filesystem::path& log_file) {
    if (argv.empty()) return fail(ErrorKind::internal, "empty command line");
    // Everything that allocates happens before fork: the child of a threaded process may
    // only make async-signal-safe calls.
    UniqueFd null(above_stdio(::open("/dev/null", O_RDWR | O_CLOEXEC)));
    if (!null) return fail(ErrorKind::io, std::string("cannot open /dev/null: ") + std::strerror(errno));
    UniqueFd log;
    if (!log_file.empty()) {
        auto f = open_file(log_file, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (!f) return std::unexpected(f.error());
        log.reset(above_stdio(f->release()));
        if (!log) return fail(ErrorKind::io, "cannot open " + log_file.string() + ": " + std::strerror(errno));
    }
    const int out = log ? log.get() : null.get();
    // The child reports the grandchild's pid on it, the grandchild a failed exec's errno;
    // close-on-exec, so the parent reads EOF once the program runs.
    int report[2];
    if (::pipe2(report, O_CLOEXEC) != 0) return fail(ErrorKind::io, std::string("pipe: ") + std::strerror(errno));
    UniqueFd report_r(above_stdio(report[0])), report_w(above_stdio(report[1]));
    if (!report_r || !report_w) return fail(ErrorKind::io, std::string("pipe: ") + std::strerror(errno));
    auto args = c_argv(argv);
    struct rlimit lim {};
    int max_fd = ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < static_cast<rlim_t>(k_max_fd_fallback)
                     ? static_cast<int>(lim.rlim_cur)
                     : k_max_fd_fallback;

    pid_t child = ::fork();
    if (child < 0) return fail(ErrorKind::io, std::string("fork: ") + std::strerror(errno));
    if (child == 0) {
        ::setsid();
        pid_t grandchild = ::fork();
        if (grandchild != 0) { // the pid, or -1: the parent reports the failure
            int v = grandchild;
            (void)!::write(report_w.get(), &v, sizeof v);
            ::_exit(0);
        }
        ::dup2(null.get(), 0);
        ::dup2(out, 1);
        ::dup2(out, 2);
        int w = report_w.get();
        if (w != 3) w = ::dup3(w, 3, O_CLOEXEC) == 3 ? 3 : -1;
        if (::close_range(w == 3 ? 4 : 3, ~0U, 0) != 0)
            for (int fd = w == 3 ? 4 : 3; fd < max_fd; ++fd) ::close(fd);
        ::execvp(args[0], args.data());
        int e = errno;
        if (w == 3) (void)!::write(3, &e, sizeof e);
        ::_exit(127);
    }
    report_w.reset();
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    int pid = -1;
    if (!read_int(report_r.get(), pid) || pid < 0)
        return fail(ErrorKind::io, "cannot start " + argv[0] + ": the second fork failed");
    int exec_errno = 0;
    if (read_int(report_r.get(), exec_errno))
        return fail(ErrorKind::not_found, "cannot run " + argv[0] + ": " + std::strerror(exec_errno));
    return static_cast<pid_t>(pid);
}

Result<std::filesystem::path> self_exe() {
    std::vector<char> buf(4096);
    while (true) {
        ssize_t n = ::readlink("/proc/self/exe", buf.data(), buf.size());
        if (n < 0) return fail(ErrorKind::io, std::string("cannot read /proc/self/exe: ") + std::strerror(errno));
        if (static_cast<std::size_t>(n) < buf.size()) return std::filesystem::path(std::string(buf.data(), static_cast<std::size_t>(n)));
        buf.resize(buf.size() * 2);
    }
}

std::optional<std::filesystem::path> sibling_exe(const std::string& name) {
    auto self = self_exe();
    if (!self) return std::nullopt;
    auto dir = self->parent_path();
    for (const auto& c : {dir / name, dir / ".." / name / name})
        if (::access(c.c_str(), X_OK) == 0) return c;
    return std::nullopt;
}

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
