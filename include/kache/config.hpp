// kache/config.hpp — configuration, resolved once into one typed struct.
//
// Sources, later wins: built-in defaults, the config file
// (`$KACHE_CONFIG`, else `$XDG_CONFIG_HOME/kache/config.toml`, else
// `~/.config/kache/config.toml`), then `KACHE_*` environment variables.
// Loading never fails: a bad file or value becomes a warning line and the
// default stays, because a cache problem must never break a build.
#pragma once

#include <kache/error.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kache::config {

// The [remote] table: which backend, and its settings.
struct RemoteConfig {
    std::string url;                            // "s3://bucket/prefix", "file:///dir", or "" for none
    std::map<std::string, std::string> options; // bucket, endpoint, region, prefix, profile, dir, ...
    bool read_only = false;
    bool configured() const { return !url.empty(); }
};

// How fast the daemon re-reads blobs to find bit rot, by default (bytes a second).
inline constexpr std::uint64_t k_default_scrub_rate = 4ull << 20;

struct Config {
    std::filesystem::path cache_dir;
    std::filesystem::path config_file;          // the file that was read ("" if none)
    std::uint64_t max_size = 20ull << 30;       // bytes; GC keeps the store under this
    std::vector<std::string> key_env_vars;      // extra environment variables in the key
    bool disabled = false;                      // pass everything through
    bool preserve_incremental = false;          // pass incremental compiles through untouched
    bool progress = false;                      // one stderr line per hit
    bool verify_blobs = true;                   // rehash blobs on restore
    std::string log_level = "warn";             // trace, debug, info, warn, error
    std::chrono::milliseconds lock_timeout{std::chrono::minutes(10)};
    std::chrono::milliseconds remote_check_timeout{3000};
    bool prefetch = true;
    std::filesystem::path socket_path;          // "" means <cache_dir>/daemon.sock
    std::int64_t daemon_idle_timeout_s = 0;     // 0: never
    bool daemon_foreground = false;             // kached logs to stderr too (KACHE_DAEMON_FOREGROUND)
    std::uint64_t scrub_rate = k_default_scrub_rate; // bytes/s the daemon's scrub reads; 0: no scrub
    RemoteConfig remote;

    // Problems found while loading, one line each, ready to print after "kache: warning: ".
    std::vector<std::string> warnings;

    std::filesystem::path effective_socket_path() const {
        return socket_path.empty() ? cache_dir / "daemon.sock" : socket_path;
    }
};

// Loads the configuration from the file and the environment.
Config load();

// Loads from an explicit file (may be absent) and the environment.
Config load_from(const std::filesystem::path& file);

// Parses "20G", "512M", "1.5GiB", "1000000" into bytes. Every unit is binary:
// K/KB/KiB is 1024, M 1024^2, G 1024^3, T 1024^4 (util::human_bytes prints the same units).
Result<std::uint64_t> parse_size(std::string_view text);

// True for the levels KACHE_LOG and log_level take: error, warn, info, debug (trace is debug).
bool valid_log_level(std::string_view level);

// Where a setting's value came from.
enum class Source { default_value, file, environment };

// One resolved setting, for `kache config`.
struct Setting {
    std::string key;     // "max_size", "remote.url"
    std::string value;   // as users write it ("20.0 GiB", "true"); secrets elided
    Source source = Source::default_value;
    std::string origin;  // the file's path, or the variable's name; "" for a default
};

// The resolved configuration with the source of every setting. Costs more than
// load() (it records each key), so only `kache config` calls it.
struct Described {
    std::filesystem::path file; // the config file looked for (read if config.config_file is set)
    Config config;
    std::vector<Setting> settings;
};
Described describe();

// "default", "file", "environment".
std::string_view source_name(Source s);

} // namespace kache::config
