// The `kache` CLI's subcommands: one file each (cmd_<name>.cpp), listed in main.cpp.
#pragma once

#include <kache/config.hpp>
#include <kache/store.hpp>

#include <span>
#include <string>
#include <string_view>

namespace kache::app {

using CommandFn = int (*)(std::span<const std::string> args);

struct Command {
    std::string_view name;
    std::string_view usage;  // the line `kache --help` shows, options included
    std::string_view summary;
    CommandFn run;
};

int cmd_stats(std::span<const std::string> args);
int cmd_list(std::span<const std::string> args);
int cmd_purge(std::span<const std::string> args);
int cmd_gc(std::span<const std::string> args);
int cmd_doctor(std::span<const std::string> args);
int cmd_monitor(std::span<const std::string> args);
int cmd_report(std::span<const std::string> args);
int cmd_why_miss(std::span<const std::string> args);
int cmd_init(std::span<const std::string> args);

// The configuration (its warnings printed) and the store it names; on failure
// the error is printed and nullopt returned (the command exits 1).
struct Opened {
    config::Config cfg;
    store::Store store;
};
std::optional<Opened> open_configured_store();

} // namespace kache::app
