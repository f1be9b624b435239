#include "log.hpp"

#include <kache/util/fs.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

namespace kache::daemon {

namespace fs = std::filesystem;

std::optional<LogLevel> parse_log_level(std::string_view name) {
    if (name == "error") return LogLevel::error;
    if (name == "warn") return LogLevel::warn;
    if (name == "info") return LogLevel::info;
    if (name == "debug" || name == "trace") return LogLevel::debug;
    return std::nullopt;
}

void Log::open(const fs::path& file, bool to_stderr, LogLevel level) {
    std::lock_guard g(mu_);
    file_ = file;
    to_stderr_ = to_stderr;
    level_ = level;
}

void Log::error(const std::string& msg) {
    {
        std::lock_guard g(mu_);
        last_error_ = msg;
    }
    write(LogLevel::error, "error", msg);
}
void Log::warn(const std::string& msg) { write(LogLevel::warn, "warn", msg); }
void Log::info(const std::string& msg) { write(LogLevel::info, "info", msg); }
void Log::debug(const std::string& msg) { write(LogLevel::debug, "debug", msg); }
void Log::lifecycle(const std::string& msg) { write(LogLevel::error, "info", msg); }

std::string Log::last_error() const {
    std::lock_guard g(mu_);
    return last_error_;
}

void Log::write(LogLevel level, const char* tag, const std::string& msg) {
    std::lock_guard g(mu_);
    if (level > level_) return;
    char when[32];
    std::time_t t = std::time(nullptr);
    struct tm utc {};
    ::gmtime_r(&t, &utc);
    std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &utc);
    std::string line = std::string(when) + " " + tag + " " + msg + "\n";
    if (to_stderr_) util::write_all(2, line);
    if (file_.empty()) return;
    struct stat st {};
    if (::stat(file_.c_str(), &st) == 0 && static_cast<std::uint64_t>(st.st_size) > k_log_rotate_bytes) {
        fs::path old = file_;
        old += ".1";
        ::rename(file_.c_str(), old.c_str());
    }
    util::UniqueFd fd(::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
    if (fd.get() < 0) return;
    util::write_all(fd.get(), line);
}

} // namespace kache::daemon
