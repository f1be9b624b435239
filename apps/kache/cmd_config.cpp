// kache config: the resolved configuration, each key with its value and where it came from.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/util/json.hpp>

#include <cstdio>

namespace kache::app {

// Built on call: a namespace-scope Spec would allocate at every start-up, hits included.
cli::Spec spec_config() {
    return {
        .command = "kache config",
        .summary = "The resolved configuration: every key, its value, and where it came from (the default, the\n"
                   "config file, or a KACHE_* variable). Variables override the file, which overrides defaults.",
        .options = {{"--json", {}, "one JSON object instead of text"}},
        .details = "Credentials in [remote] (keys naming KEY, SECRET, TOKEN or PASSWORD) are not shown.",
    };
}

namespace {

std::string where(const config::Setting& s) {
    if (s.source == config::Source::default_value) return "default";
    if (s.source == config::Source::file) return "file " + s.origin;
    return "variable " + s.origin;
}

} // namespace

int cmd_config(std::span<const std::string> argv) {
    const auto spec = spec_config();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    auto d = config::describe();
    for (auto& w : d.config.warnings) std::fprintf(stderr, "kache: warning: %s\n", w.c_str());
    const bool read = !d.config.config_file.empty();
    if (args->has("--json")) {
        std::string out = "{\"config_file\":\"" + util::json_escape(d.file.string()) + "\",\"config_file_read\":" +
                          (read ? "true" : "false") + ",\"settings\":[";
        bool first = true;
        for (auto& s : d.settings) {
            out += first ? "" : ",";
            first = false;
            out += "{\"key\":\"" + util::json_escape(s.key) + "\",\"value\":\"" + util::json_escape(s.value) +
                   "\",\"source\":\"" + std::string(config::source_name(s.source)) + "\",\"origin\":\"" +
                   util::json_escape(s.origin) + "\"}";
        }
        out += "]}\n";
        std::fputs(out.c_str(), stdout);
        return 0;
    }
    std::printf("# config file: %s%s\n", d.file.empty() ? "(none: no HOME)" : d.file.c_str(),
                d.file.empty() || read ? "" : " (not present)");
    std::size_t kw = 0, vw = 0;
    for (auto& s : d.settings) {
        kw = std::max(kw, s.key.size());
        vw = std::max(vw, s.value.size());
    }
    for (auto& s : d.settings)
        std::printf("%-*s  %-*s  %s\n", int(kw), s.key.c_str(), int(vw), s.value.empty() ? "\"\"" : s.value.c_str(),
                    where(s).c_str());
    return 0;
}

} // namespace kache::app
