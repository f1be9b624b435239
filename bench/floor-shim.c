/* bench/floor-shim.c: the benchmark's floor, a RUSTC_WRAPPER that does no key work.
 *
 *   FLOOR_MODE=record FLOOR_STASH=DIR cargo build   compile; keep each unit's outputs and stderr
 *   cargo clean; FLOOR_MODE=replay FLOOR_STASH=DIR cargo build
 *                                                   hardlink them back, replay stderr
 *
 * The key is a hash of the argument list and the working directory, nothing else: no file
 * is read or hashed, so replay only works for the same invocation in the same place. What
 * is left of a replayed build is cargo itself, build-script runs and process spawns: the
 * least any cache could cost. Built static (`cc -O2 -static`) so that its own start-up is
 * an exec and little more.
 *
 * FLOOR_TIMES=FILE: each replayed unit appends its own time in microseconds, from main to
 * the outputs in place and stderr replayed: the span kache's event log times on a hit, so
 * the two compare like for like under the same build's load.
 *
 * Not part of kache: a benchmark tool. Invocations it does not understand (no --crate-name
 * or --out-dir, cargo's probes) run rustc directly.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { k_path_max = 4096, k_io_chunk = 1 << 16 };

/* Two independent 64-bit FNV-1a streams: 128 bits, plenty for a few hundred keys. */
typedef struct { uint64_t a, b; } key128;

static void key_feed(key128 *k, const char *s, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        k->a = (k->a ^ (unsigned char)s[i]) * 0x100000001b3ULL;
        k->b = (k->b ^ (unsigned char)s[i]) * 0x00000100000001b3ULL + 0x9e3779b97f4a7c15ULL;
    }
    /* A separator, so that ("ab","c") and ("a","bc") differ. */
    k->a = (k->a ^ 0xff) * 0x100000001b3ULL;
    k->b = (k->b ^ 0xfe) * 0x00000100000001b3ULL;
}

/* dir + "/" + name into out (k_path_max); -1 if it does not fit. */
static int join(char *out, const char *dir, const char *name) {
    int n = snprintf(out, k_path_max, "%s/%s", dir, name);
    return n < 0 || n >= k_path_max ? -1 : 0;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int copy_file(const char *src, const char *dst, mode_t mode) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (out < 0) {
        close(in);
        return -1;
    }
    char buf[k_io_chunk];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = -1;
            break;
        }
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = -1;
            break;
        }
    }
    close(in);
    if (close(out) != 0) rc = -1;
    return rc;
}

static void cat_to_stderr(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[k_io_chunk];
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) write_all(2, buf, (size_t)r);
    close(fd);
}

static void run_rustc(char **argv) {
    execvp(argv[0], argv);
    fprintf(stderr, "floor-shim: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

/* Replay: link every stashed output into out_dir with a fresh mtime, replay stderr. */
static int replay(const char *stash, const char *out_dir) {
    char files[k_path_max], src[k_path_max], dst[k_path_max];
    if (join(files, stash, "files") != 0) return -1;
    DIR *d = opendir(files);
    if (!d) return -1;
    mkdir(out_dir, 0755);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (join(src, files, e->d_name) != 0 || join(dst, out_dir, e->d_name) != 0) {
            closedir(d);
            return -1;
        }
        unlink(dst);
        if (link(src, dst) != 0 && copy_file(src, dst, 0755) != 0) {
            closedir(d);
            return -1;
        }
        utimensat(AT_FDCWD, dst, NULL, 0); /* newer than the inputs, as a compile would be */
    }
    closedir(d);
    if (join(src, stash, "stderr") == 0) cat_to_stderr(src);
    return 0;
}

/* Record: run rustc with its stderr teed into the stash; on success keep the unit's outputs. */
static int record(char **argv, const char *stash, const char *out_dir, const char *stem) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) run_rustc(argv);
    pid_t pid = fork();
    if (pid < 0) run_rustc(argv);
    if (pid == 0) {
        dup2(pipefd[1], 2);
        run_rustc(argv);
    }
    close(pipefd[1]);
    char *err = NULL;
    size_t len = 0, cap = 0;
    char buf[k_io_chunk];
    ssize_t r;
    while ((r = read(pipefd[0], buf, sizeof buf)) != 0) {
        if (r < 0) {
            if (errno == EINTR) continue;
            break;
        }
        write_all(2, buf, (size_t)r);
        if (len + (size_t)r > cap) {
            cap = (len + (size_t)r) * 2;
            char *grown = realloc(err, cap);
            if (!grown) exit(70);
            err = grown;
        }
        memcpy(err + len, buf, (size_t)r);
        len += (size_t)r;
    }
    close(pipefd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (rc != 0) return rc;

    char files[k_path_max], p[k_path_max], q[k_path_max];
    if (join(files, stash, "files") != 0) return 0; /* not recorded: replay will compile */
    mkdir(stash, 0755);
    mkdir(files, 0755);
    DIR *d = opendir(out_dir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, stem)) continue; /* this unit's outputs carry its crate name + suffix */
        struct stat st;
        if (join(p, out_dir, e->d_name) != 0 || lstat(p, &st) != 0 || !S_ISREG(st.st_mode)) continue;
        if (join(q, files, e->d_name) == 0) copy_file(p, q, st.st_mode & 0777);
    }
    if (d) closedir(d);
    int fd = join(p, stash, "stderr") == 0 ? open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
    if (fd >= 0) {
        write_all(fd, err ? err : "", len);
        close(fd);
    }
    free(err);
    return 0;
}

static long long now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* Appends this unit's time to FLOOR_TIMES, if set (after the clock has stopped). */
static void note_time(long long t0) {
    long long us = now_us() - t0;
    const char *f = getenv("FLOOR_TIMES");
    if (!f) return;
    char line[32];
    int n = snprintf(line, sizeof line, "%lld\n", us);
    int fd = open(f, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    write_all(fd, line, (size_t)n);
    close(fd);
}

int main(int argc, char **argv) {
    long long t0 = now_us();
    if (argc < 2) {
        fprintf(stderr, "usage: floor-shim RUSTC ARGS... (FLOOR_MODE=record|replay, FLOOR_STASH=DIR)\n");
        return 2;
    }
    char **rustc_argv = argv + 1;
    const char *mode = getenv("FLOOR_MODE"), *stash_root = getenv("FLOOR_STASH");
    const char *crate = NULL, *out_dir = NULL, *extra = "";
    for (int i = 2; i < argc; ++i) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--crate-name") == 0 && next) crate = next;
        else if (strcmp(a, "--out-dir") == 0 && next) out_dir = next;
        else if (strncmp(a, "extra-filename=", 15) == 0) extra = a + 15;
        else if (strncmp(a, "-Cextra-filename=", 17) == 0) extra = a + 17;
    }
    if (!mode || !stash_root || !crate || !out_dir || strcmp(crate, "___") == 0) run_rustc(rustc_argv);

    key128 k = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    char cwd[k_path_max];
    if (!getcwd(cwd, sizeof cwd)) run_rustc(rustc_argv);
    key_feed(&k, cwd, strlen(cwd));
    for (int i = 1; i < argc; ++i) key_feed(&k, argv[i], strlen(argv[i]));
    char stash[k_path_max], stem[k_path_max];
    snprintf(stash, sizeof stash, "%s/%016llx%016llx", stash_root, (unsigned long long)k.a, (unsigned long long)k.b);
    snprintf(stem, sizeof stem, "%s%s", crate, extra);

    if (strcmp(mode, "replay") == 0) {
        if (replay(stash, out_dir) == 0) {
            note_time(t0);
            return 0;
        }
        run_rustc(rustc_argv); /* not recorded: compile, as a cache miss would */
    }
    if (strcmp(mode, "record") == 0) return record(rustc_argv, stash, out_dir, stem);
    run_rustc(rustc_argv);
}
