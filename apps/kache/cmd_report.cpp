// kache report: per build session and per crate, hits, misses and why, compile
// time, time saved and bytes; as text, JSON, Markdown, a GitHub step summary or
// a Chrome/Perfetto trace.
#include "../common/cli.hpp"
#include "commands.hpp"

#include <kache/events/report.hpp>
#include <kache/util/fs.hpp>

#include <cstdio>

namespace kache::app {

namespace {

inline constexpr std::uint64_t k_default_top = 20;
inline constexpr std::uint64_t k_max_top = 1000000;

cli::Spec make_spec() {
    return {
        .command = "kache report",
        .summary = "Hits, misses and why, compile time and time saved, per build session and per crate.",
        .options = {{"--format", "FORMAT", "text (default), json, markdown, github or trace"},
                    {"--since", "DUR", "only units that ended in the last DUR (90s, 15m, 12h, 7d)"},
                    {"--output", "FILE", "write the report to FILE (replaced atomically) instead of stdout"},
                    {"--top", "N", "at most N per-crate rows in each table (default 20, 0 = all)"}},
        .details = "json follows the schema kache-report-1 (docs/report.md); github is Markdown for\n"
                   "$GITHUB_STEP_SUMMARY; trace opens in ui.perfetto.dev or chrome://tracing.\n",
    };
}

} // namespace

int cmd_report(std::span<const std::string> argv) {
    const auto spec = make_spec();
    auto args = cli::parse(spec, argv);
    if (!args) return args.error();
    auto format = events::Format::text;
    if (auto f = args->value("--format")) {
        auto parsed = events::parse_format(*f);
        if (!parsed) return cli::usage_error(spec, "unknown format '" + *f + "' (text, json, markdown, github, trace)");
        format = *parsed;
    }
    std::int64_t since_us = 0;
    if (auto s = args->value("--since")) {
        auto d = cli::parse_duration(*s);
        if (!d) return cli::usage_error(spec, "--since " + *s + ": " + d.error());
        // Never 0 (that means "everything"): --since 0s keeps only what ends from now on.
        since_us = std::max<std::int64_t>(1, util::now_ns() / 1000 - d->count() * 1000000);
    }
    std::uint64_t top = k_default_top;
    if (auto t = args->value("--top")) {
        auto n = cli::parse_count(*t, 0, k_max_top);
        if (!n) return cli::usage_error(spec, "--top " + *t + ": " + n.error());
        top = *n;
    }
    auto opened = open_configured_store();
    if (!opened) return 1;
    auto report = events::build_report(events::read_all(opened->store.events_dir()), since_us);
    std::string text = events::render(report, format, top);
    if (auto out = args->value("--output")) {
        std::filesystem::path file(*out);
        std::filesystem::path dir = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
        if (auto written = util::write_file_atomic(file, text, dir, 0644); !written) {
            std::fprintf(stderr, "kache report: %s\n", written.error().message.c_str());
            return 1;
        }
        return 0;
    }
    return util::write_all(1, text) ? 0 : 1;
}

} // namespace kache::app
