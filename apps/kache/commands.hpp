// The `kache` CLI's subcommands: one file each (cmd_<name>.cpp), listed in main.cpp.
#pragma once

#include "../common/cli.hpp"

#include <kache/config.hpp>
#include <kache/store.hpp>

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kache::app {

using CommandFn = int (*)(std::span<const std::string> args);
using SpecFn = cli::Spec (*)();
using SubSpecsFn = std::vector<cli::Spec> (*)();

struct Command {
    std::string_view name;
    std::string_view usage;  // the line `kache --help` shows when there is no spec
    std::string_view summary;
    CommandFn run;
    // The command's spec, for `kache --help` and `kache completions`. Without one,
    // completions ask `kache NAME --help` for the options.
    SpecFn spec = nullptr;
    SubSpecsFn subcommands = nullptr; // `kache daemon`'s subcommands, each with its spec
};

// Every subcommand, in the order `kache --help` lists them (main.cpp).
std::span<const Command> command_table();

int cmd_stats(std::span<const std::string> args);
int cmd_list(std::span<const std::string> args);
int cmd_purge(std::span<const std::string> args);
int cmd_gc(std::span<const std::string> args);
int cmd_doctor(std::span<const std::string> args);
int cmd_monitor(std::span<const std::string> args);
int cmd_report(std::span<const std::string> args);
int cmd_why_miss(std::span<const std::string> args);
int cmd_init(std::span<const std::string> args);
int cmd_config(std::span<const std::string> args);
int cmd_completions(std::span<const std::string> args);

cli::Spec spec_stats();
cli::Spec spec_list();
cli::Spec spec_purge();
cli::Spec spec_gc();
cli::Spec spec_config();
cli::Spec spec_completions();

// The configuration (its warnings printed) and the store it names; on failure
// the error is printed and nullopt returned (the command exits 1).
struct Opened {
    config::Config cfg;
    store::Store store;
};
std::optional<Opened> open_configured_store();

} // namespace kache::app
