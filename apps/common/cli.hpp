// The command-line conventions every kache subcommand follows: `--help` prints
// the command's help and exits 0; an unknown option, a missing or bad value, or
// a stray argument exits 2 with one line naming `kache CMD --help`. Options are
// `--name`, `--name VALUE` or `--name=VALUE`; values are checked whole
// (`--jobs 4x` is an error, not 4).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::cli {

// Exit status of a usage error (the convention of getopt-based tools).
inline constexpr int k_usage_exit = 2;

struct Option {
    std::string_view name;        // "--since"
    std::string_view value = {};  // the value's placeholder ("DUR"); empty for a flag
    std::string_view help = {};   // one line
};

// What a command accepts and says about itself.
struct Spec {
    std::string_view command;          // "kache stats"
    std::string_view summary;          // one line: what it does
    std::vector<Option> options = {};
    std::string_view operands = {};    // placeholder of positional arguments ("[CRATE]"), shown in usage
    std::size_t min_operands = 0;
    std::size_t max_operands = 0;
    std::string_view details = {};     // further paragraphs of --help
};

// The parsed arguments of one command.
class Args {
public:
    bool has(std::string_view name) const;                      // the flag or option was given
    std::optional<std::string> value(std::string_view name) const; // its last value
    const std::vector<std::string>& operands() const { return operands_; }

private:
    friend std::expected<Args, int> parse(const Spec&, std::span<const std::string>);
    std::vector<std::pair<std::string, std::string>> given_;
    std::vector<std::string> operands_;
};

// Parses args (after the command's name) against spec. On `--help` it prints the
// help to stdout and returns 0 as the error; on a usage error it prints one line to
// stderr and returns k_usage_exit. The caller returns that as its exit status.
std::expected<Args, int> parse(const Spec& spec, std::span<const std::string> args);

// Prints "kache CMD: MSG (see kache CMD --help)" to stderr; returns k_usage_exit.
int usage_error(const Spec& spec, std::string_view msg);

// The full --help text of spec.
std::string help_text(const Spec& spec);

// Whole-string value parsers; the error is a short phrase for usage_error.
std::expected<std::uint64_t, std::string> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi);
// "90s", "15m", "12h", "7d", "2w" (a bare number is seconds).
std::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text);

} // namespace kache::cli
