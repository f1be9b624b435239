#include "cli.hpp"

#include <charconv>
#include <cstdio>

namespace kache::cli {

namespace {

const Option* find(const Spec& spec, std::string_view name) {
    for (auto& o : spec.options)
        if (o.name == name) return &o;
    return nullptr;
}

} // namespace

bool Args::has(std::string_view name) const {
    for (auto& [n, v] : given_)
        if (n == name) return true;
    return false;
}

std::optional<std::string> Args::value(std::string_view name) const {
    std::optional<std::string> out;
    for (auto& [n, v] : given_)
        if (n == name) out = v;
    return out;
}

std::string help_text(const Spec& spec) {
    std::string out = "usage: " + std::string(spec.command);
    for (auto& o : spec.options) {
        out += " [" + std::string(o.name);
        if (!o.value.empty()) out += " " + std::string(o.value);
        out += "]";
    }
    if (!spec.operands.empty()) out += " " + std::string(spec.operands);
    out += "\n\n" + std::string(spec.summary) + "\n";
    std::vector<Option> all = spec.options;
    all.push_back({"--help", {}, "print this help and exit"});
    std::size_t width = 0;
    for (auto& o : all) width = std::max(width, o.name.size() + (o.value.empty() ? 0 : o.value.size() + 1));
    out += "\noptions:\n";
    for (auto& o : all) {
        std::string left = std::string(o.name) + (o.value.empty() ? "" : " " + std::string(o.value));
        out += "  " + left + std::string(width - left.size() + 2, ' ') + std::string(o.help) + "\n";
    }
    if (!spec.details.empty()) out += "\n" + std::string(spec.details) + (spec.details.ends_with('\n') ? "" : "\n");
    return out;
}

int usage_error(const Spec& spec, std::string_view msg) {
    std::fprintf(stderr, "%.*s: %.*s (see %.*s --help)\n", int(spec.command.size()), spec.command.data(),
                 int(msg.size()), msg.data(), int(spec.command.size()), spec.command.data());
    return k_usage_exit;
}

std::expected<Args, int> parse(const Spec& spec, std::span<const std::string> args) {
    Args out;
    bool options_done = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (!options_done && (a == "--help" || a == "-h")) {
            std::fputs(help_text(spec).c_str(), stdout);
            return std::unexpected(0);
        }
        if (!options_done && a == "--") {
            options_done = true;
            continue;
        }
        if (options_done || a.size() < 2 || a[0] != '-') {
            out.operands_.push_back(a);
            continue;
        }
        std::string name = a, value;
        bool inline_value = false;
        if (auto eq = a.find('='); a.starts_with("--") && eq != std::string::npos) {
            name = a.substr(0, eq);
            value = a.substr(eq + 1);
            inline_value = true;
        }
        const Option* o = find(spec, name);
        if (!o) return std::unexpected(usage_error(spec, "unknown option " + name));
        if (o->value.empty()) {
            if (inline_value) return std::unexpected(usage_error(spec, name + " takes no value"));
        } else if (!inline_value) {
            if (i + 1 >= args.size()) return std::unexpected(usage_error(spec, name + " needs a value (" + std::string(o->value) + ")"));
            value = args[++i];
        }
        out.given_.emplace_back(name, value);
    }
    if (out.operands_.size() > spec.max_operands) {
        if (spec.max_operands == 0) return std::unexpected(usage_error(spec, "unexpected argument " + out.operands_[0]));
        return std::unexpected(usage_error(spec, "too many arguments (expected " + std::string(spec.operands) + ")"));
    }
    if (out.operands_.size() < spec.min_operands)
        return std::unexpected(usage_error(spec, "missing argument " + std::string(spec.operands)));
    return out;
}

std::expected<std::uint64_t, std::string> parse_count(std::string_view text, std::uint64_t lo, std::uint64_t hi) {
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || p != text.data() + text.size())
        return std::unexpected("\"" + std::string(text) + "\" is not a whole number");
    if (v < lo || v > hi)
        return std::unexpected("\"" + std::string(text) + "\" is out of range (" + std::to_string(lo) + " to " +
                               std::to_string(hi) + ")");
    return v;
}

std::expected<std::chrono::seconds, std::string> parse_duration(std::string_view text) {
    // Up to 100 years in any unit: enough for "everything", far from overflow.
    constexpr std::uint64_t k_max_seconds = 100ull * 365 * 24 * 3600;
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    auto bad = [&] { return std::unexpected("\"" + std::string(text) + "\" is not a duration (like 90s, 15m, 12h, 7d, 2w)"); };
    if (digits == 0 || digits > 12) return bad();
    std::uint64_t n = 0;
    std::from_chars(text.data(), text.data() + digits, n);
    std::string_view unit = text.substr(digits);
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "s") mult = 1;
    else if (unit == "m") mult = 60;
    else if (unit == "h") mult = 3600;
    else if (unit == "d") mult = 86400;
    else if (unit == "w") mult = 7 * 86400;
    else return bad();
    if (n > k_max_seconds / mult) return bad();
    return std::chrono::seconds(static_cast<std::int64_t>(n * mult));
}

} // namespace kache::cli
