// `kached doctor-remote`: is the remote reachable, are the credentials accepted, may we
// write. Prints findings for `kache doctor` to parse (see kache/doctor.hpp).
#include "doctor_remote.hpp"

#include <kache/config.hpp>
#include <kache/doctor.hpp>
#include <kache/remote.hpp>
#include <kache/remote/builtin.hpp>
#include <kache/remote/s3.hpp>
#include <kache/util/fs.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace kache::app {

namespace {

using doctor::Finding;
using doctor::Status;

// The whole remote check ends within this, whatever the remote does (a stalled server
// would otherwise hold `kache doctor` for every retry).
inline constexpr std::chrono::seconds k_doctor_remote_deadline{20};
// Retries and connect timeout for the probe unless the configuration names its own: a
// doctor reports a dead remote in seconds, it does not wait it out.
inline constexpr const char* k_probe_max_attempts = "2";
inline constexpr const char* k_probe_connect_timeout_ms = "3000";

char g_deadline_line[256];

extern "C" void on_deadline(int) {
    (void)!::write(1, g_deadline_line, std::strlen(g_deadline_line));
    ::_exit(1);
}

bool g_problem = false;

void emit(const Finding& f) {
    if (f.status == Status::problem) g_problem = true;
    std::string line = doctor::to_line(f) + "\n";
    util::write_all(1, line);
}

bool is_s3(const config::RemoteConfig& r) { return r.url.rfind("s3://", 0) == 0; }

std::string access_fix(const config::RemoteConfig& r) {
    if (is_s3(r))
        return "check the credentials (KACHE_S3_ACCESS_KEY and KACHE_S3_SECRET_KEY, AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY, AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, or the profile) and the "
               "bucket's policy";
    return "check the remote directory's owner and permissions";
}

std::string failure_fix(const config::RemoteConfig& r, const Error& e) {
    switch (e.kind) {
    case ErrorKind::denied: return access_fix(r);
    case ErrorKind::config: return "fix the remote in config.toml or the KACHE_* variables";
    case ErrorKind::not_found:
        return is_s3(r) ? "create the bucket, or fix KACHE_S3_BUCKET" : "create the directory, or fix KACHE_REMOTE_DIR";
    default:
        return is_s3(r) ? "check the endpoint (KACHE_S3_ENDPOINT) and the network" : "check that the directory is mounted";
    }
}

// " (credentials from <source>)": which link of the credential chain answered. The chain is
// resolved again here (the backend keeps its own provider private).
std::string credentials_note(const remote::RemoteSpec& spec) {
    auto s3 = remote::resolve_s3_config(spec);
    if (!s3 || s3->credential_source.empty()) return {};
    return " (credentials from " + s3->credential_source + ")";
}

} // namespace

int cmd_doctor_remote(const std::vector<std::string>& args) {
    if (!args.empty()) {
        std::fprintf(stderr, "usage: kached doctor-remote (run by `kache doctor`)\n");
        return 2;
    }
    auto cfg = config::load();
    if (!cfg.remote.configured()) {
        emit({Status::ok, "no remote configured (the local store only)", {}});
        return 0;
    }
    std::snprintf(g_deadline_line, sizeof g_deadline_line,
                  "problem\tthe remote %s did not answer within %lld s\t%s\n", cfg.remote.url.c_str(),
                  (long long)k_doctor_remote_deadline.count(), failure_fix(cfg.remote, Error{ErrorKind::timeout, {}}).c_str());
    ::signal(SIGALRM, on_deadline);
    ::alarm(unsigned(k_doctor_remote_deadline.count()));

    remote::register_builtin_backends();
    remote::RemoteSpec spec{cfg.remote.url, cfg.remote.options, cfg.remote.read_only};
    spec.options.try_emplace("max_attempts", k_probe_max_attempts);
    spec.options.try_emplace("connect_timeout_ms", k_probe_connect_timeout_ms);
    auto backend = remote::Registry::instance().create(spec);
    if (!backend) {
        emit({Status::problem, "the remote " + cfg.remote.url + " cannot be used: " + backend.error().message,
              failure_fix(cfg.remote, backend.error())});
        return 1;
    }
    const std::string name = (*backend)->describe();

    // Reachable, and the credentials accepted: a listing needs both (and reads nothing large).
    if (auto l = (*backend)->list("v1/doctor/"); !l) {
        std::string what = l.error().kind == ErrorKind::denied
                               ? (is_s3(cfg.remote) ? "the remote " + name + " refused the credentials: "
                                                    : "the remote " + name + " refused access: ")
                               : "the remote " + name + " is not reachable: ";
        emit({Status::problem, what + l.error().message, failure_fix(cfg.remote, l.error())});
        return 1;
    }
    emit({Status::ok, "the remote " + name + " answers" +
                          (is_s3(cfg.remote) ? " and accepts the credentials" + credentials_note(spec) : ""),
          {}});

    if (cfg.remote.read_only) {
        emit({Status::ok, "the remote is read-only by configuration: builds download but never upload", {}});
        return g_problem ? 1 : 0;
    }
    // Writable: put and remove one small object of our own.
    std::error_code ec;
    auto tmp = util::TempFile::create(std::filesystem::temp_directory_path(ec));
    if (!tmp || !tmp->write("kache doctor write probe\n")) {
        emit({Status::note, "could not make a local temp file to test writing to the remote", {}});
        return g_problem ? 1 : 0;
    }
    char host[256] = "host";
    ::gethostname(host, sizeof host - 1);
    const std::string key = "v1/doctor/probe-" + std::string(host) + "-" + std::to_string(::getpid());
    if (auto put = (*backend)->put(key, tmp->path(), remote::Overwrite::yes); !put) {
        emit({Status::problem, "the remote " + name + " does not accept writes: " + put.error().message,
              put.error().kind == ErrorKind::denied
                  ? access_fix(cfg.remote) + ", or make it read-only on purpose (read_only = true in [remote], or "
                                             "KACHE_REMOTE_READONLY=1)"
                  : failure_fix(cfg.remote, put.error())});
        return 1;
    }
    (void)(*backend)->remove(key);
    emit({Status::ok, "the remote accepts writes (uploads are on)", {}});
    return g_problem ? 1 : 0;
}

} // namespace kache::app
