// The daemon's log: one file with size-based rotation, safe from any thread,
// filtered by the configured level (config log_level / KACHE_LOG). Library code
// writes to stderr only through this log, and only in the foreground.
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace kache::daemon {

// When the log file passes this size it is renamed to "<file>.1" and a new one starts.
inline constexpr std::uint64_t k_log_rotate_bytes = 10 << 20;

enum class LogLevel { error, warn, info, debug };

// "error", "warn", "info", "debug" ("trace" is debug); nullopt for anything else.
std::optional<LogLevel> parse_log_level(std::string_view name);

class Log {
public:
    // Until open() the log writes nowhere (but still remembers the last error).
    void open(const std::filesystem::path& file, bool to_stderr, LogLevel level);

    void error(const std::string& msg); // also kept as last_error()
    void warn(const std::string& msg);
    void info(const std::string& msg);
    void debug(const std::string& msg);
    // Start, stop, restart and signals: written at every level, so the log
    // always says when and why the daemon ran.
    void lifecycle(const std::string& msg);

    // The last message logged as an error ("" if none), for the status reply.
    std::string last_error() const;

private:
    void write(LogLevel level, const char* tag, const std::string& msg);

    mutable std::mutex mu_;
    std::filesystem::path file_;
    bool to_stderr_ = false;
    LogLevel level_ = LogLevel::warn;
    std::string last_error_;
};

} // namespace kache::daemon
