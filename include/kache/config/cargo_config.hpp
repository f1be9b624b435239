// kache/config/cargo_config.hpp — cargo's own configuration, as far as kache needs it:
// which compiler wrapper cargo runs (`build.rustc-wrapper`), and setting it to kache.
//
// Cargo's config files are untrusted input: they are read bounded, a malformed file is
// reported (never rewritten), and an edit keeps every other byte of the file.
#pragma once

#include <kache/error.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kache::config {

// A cargo config file larger than this is not one kache reads or edits.
inline constexpr std::uint64_t k_max_cargo_config_bytes = 1 << 20;

// $CARGO_HOME, else $HOME/.cargo ("" when neither is set).
std::filesystem::path cargo_home();

// The config files cargo reads when run in cwd, highest precedence first:
// <dir>/.cargo/config(.toml) for cwd and each ancestor, then $CARGO_HOME/config(.toml)
// when not already listed. Only files that exist are returned.
std::vector<std::filesystem::path> cargo_config_files(const std::filesystem::path& cwd,
                                                      const std::filesystem::path& cargo_home);

// Where one wrapper setting came from.
struct WrapperSetting {
    std::string value;                  // as written: "kache", "/usr/bin/sccache"; "" turns the wrapper off
    std::string source;                 // "RUSTC_WRAPPER" or the config file's path
    std::filesystem::path base_dir;     // a relative path with a '/' is resolved from here
    bool from_file = false;
};

// The wrapper settings cargo would use in cwd.
struct WrapperLookup {
    std::optional<WrapperSetting> wrapper;            // the one cargo uses (nullopt: none)
    std::vector<WrapperSetting> shadowed;             // other settings it overrides
    std::optional<WrapperSetting> workspace_wrapper;  // RUSTC_WORKSPACE_WRAPPER / build.rustc-workspace-wrapper
    std::vector<std::string> problems;                // unreadable or malformed files, one line each
};

// Resolves build.rustc-wrapper as cargo does: RUSTC_WRAPPER, then
// CARGO_BUILD_RUSTC_WRAPPER, then the config files in precedence order.
WrapperLookup find_rustc_wrapper(const std::filesystem::path& cwd, const std::filesystem::path& cargo_home);

// The executable a setting names: a value with a '/' is taken relative to base_dir
// (the directory holding `.cargo/`, or cwd for a variable), a bare name is looked up
// on PATH. nullopt when nothing executable is found.
std::optional<std::filesystem::path> resolve_wrapper(const WrapperSetting& setting);

// Reads the string at build.<key> of one cargo config file. nullopt when the file or
// the key is absent. ErrorKind::invalid_input for a malformed file (file:line and the
// parser's words) or a value that is not a string; io/invalid_input for an unreadable
// or oversized file.
Result<std::optional<std::string>> read_cargo_build_string(const std::filesystem::path& file, std::string_view key);

// The result of setting build.rustc-wrapper in a config file's text.
struct WrapperEdit {
    std::string text;                   // the new text (equal to the old one when unchanged)
    std::optional<std::string> previous; // the wrapper set before, if any
    bool changed = false;
};

// Sets build.rustc-wrapper = wrapper in text (a config.toml's content, "" for a new
// file), keeping every other line as it is: the key's line is replaced, or the line is
// added to the [build] table, or a [build] table is appended. The result is parsed back
// and must hold exactly the old settings plus the new one. ErrorKind::invalid_input
// when text is malformed (name is used in the message) or cannot be edited safely.
Result<WrapperEdit> set_rustc_wrapper(std::string_view text, std::string_view wrapper, std::string_view name);

} // namespace kache::config
