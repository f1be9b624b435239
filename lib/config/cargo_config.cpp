// Reading and editing cargo's config files for `kache doctor` and `kache init`.
#include <kache/config/cargo_config.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <unistd.h>

#include <system_error>

// The same toml++ set-up as config.cpp (it must match in every file that includes it):
// header-only, no exceptions, and no asserts, which malformed input can trip.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>

namespace kache::config {

namespace fs = std::filesystem;

namespace {

// toml++ 3.3 misbehaves on some non-ASCII bytes (see config.cpp). TOML allows them only in
// strings and comments, so replacing each by '?' keeps the structure and every line number.
std::string ascii_only(std::string_view text) {
    std::string out(text);
    for (auto& c : out)
        if (static_cast<unsigned char>(c) >= 0x80) c = '?';
    return out;
}

Result<toml::table> parse_toml(std::string_view text, std::string_view name) {
    std::string clean = ascii_only(text);
    toml::parse_result parsed = toml::parse(clean, std::string(name));
    if (!parsed) {
        auto& err = parsed.error();
        return fail(ErrorKind::invalid_input, std::string(name) + ":" + std::to_string(err.source().begin.line) + ": " +
                                                  std::string(err.description()));
    }
    return std::move(parsed).table();
}

// The config file of one .cargo directory: cargo prefers the legacy name when both exist.
std::optional<fs::path> config_in(const fs::path& dot_cargo) {
    for (const char* name : {"config", "config.toml"}) {
        fs::path p = dot_cargo / name;
        std::error_code ec;
        if (fs::is_regular_file(p, ec)) return p;
    }
    return std::nullopt;
}

// A TOML basic string holding s.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", unsigned(static_cast<unsigned char>(c)));
            out += buf;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

std::vector<std::string> split_lines(std::string_view text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        auto nl = text.find('\n', start);
        if (nl == std::string_view::npos) nl = text.size();
        lines.emplace_back(text.substr(start, nl - start));
        start = nl + 1;
    }
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (auto& l : lines) out += l + "\n";
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// True for a `[build]` header line (spaces and a trailing comment allowed).
bool is_build_header(std::string_view line) {
    auto t = trim(line);
    if (auto hash = t.find('#'); hash != std::string_view::npos) t = trim(t.substr(0, hash));
    if (t.size() < 2 || t.front() != '[' || t.back() != ']' || t.starts_with("[[")) return false;
    return trim(t.substr(1, t.size() - 2)) == "build";
}

} // namespace

fs::path cargo_home() {
    if (auto h = util::env("CARGO_HOME"); h && !h->empty()) return fs::path(*h);
    if (auto h = util::env("HOME"); h && !h->empty()) return fs::path(*h) / ".cargo";
    return {};
}

std::vector<fs::path> cargo_config_files(const fs::path& cwd, const fs::path& home) {
    std::vector<fs::path> out;
    std::error_code ec;
    fs::path dir = cwd.is_absolute() ? cwd : fs::absolute(cwd, ec);
    fs::path home_dir = home.empty() ? fs::path{} : fs::weakly_canonical(home, ec);
    bool home_seen = false;
    for (fs::path d = dir;; d = d.parent_path()) {
        fs::path dot = d / ".cargo";
        if (!home_dir.empty() && fs::weakly_canonical(dot, ec) == home_dir) home_seen = true;
        if (auto f = config_in(dot)) out.push_back(*f);
        if (d == d.root_path() || d.empty()) break;
    }
    if (!home.empty() && !home_seen)
        if (auto f = config_in(home)) out.push_back(*f);
    return out;
}

Result<std::optional<std::string>> read_cargo_build_string(const fs::path& file, std::string_view key) {
    auto text = util::read_file_bounded(file, k_max_cargo_config_bytes);
    if (!text) {
        if (text.error().kind == ErrorKind::not_found) return std::optional<std::string>{};
        return std::unexpected(text.error());
    }
    auto table = parse_toml(*text, file.string());
    if (!table) return std::unexpected(table.error());
    auto build = (*table)["build"];
    if (!build) return std::optional<std::string>{};
    if (!build.is_table())
        return fail(ErrorKind::invalid_input, file.string() + ": build is not a table");
    auto node = build[key];
    if (!node) return std::optional<std::string>{};
    if (auto s = node.value<std::string>(); s && node.is_string()) return std::optional<std::string>(*s);
    return fail(ErrorKind::invalid_input, file.string() + ": build." + std::string(key) + " is not a string");
}

WrapperLookup find_rustc_wrapper(const fs::path& cwd, const fs::path& home) {
    WrapperLookup out;
    auto consider = [&](std::optional<WrapperSetting>& slot, WrapperSetting s) {
        if (slot) out.shadowed.push_back(std::move(s));
        else slot = std::move(s);
    };
    for (const char* var : {"RUSTC_WRAPPER", "CARGO_BUILD_RUSTC_WRAPPER"})
        if (auto v = util::env(var)) consider(out.wrapper, WrapperSetting{*v, var, cwd, false});
    for (const char* var : {"RUSTC_WORKSPACE_WRAPPER", "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER"})
        if (auto v = util::env(var); v && !out.workspace_wrapper) out.workspace_wrapper = WrapperSetting{*v, var, cwd, false};
    for (auto& file : cargo_config_files(cwd, home)) {
        // Relative paths in a config file are relative to the directory holding `.cargo/`.
        fs::path base = file.parent_path().parent_path();
        auto w = read_cargo_build_string(file, "rustc-wrapper");
        if (!w) {
            out.problems.push_back(w.error().message);
            continue;
        }
        if (*w) consider(out.wrapper, WrapperSetting{**w, file.string(), base, true});
        if (out.workspace_wrapper) continue;
        if (auto ww = read_cargo_build_string(file, "rustc-workspace-wrapper"); ww && *ww)
            out.workspace_wrapper = WrapperSetting{**ww, file.string(), base, true};
    }
    return out;
}

std::optional<fs::path> resolve_wrapper(const WrapperSetting& s) {
    if (s.value.empty()) return std::nullopt;
    fs::path p = s.value.find('/') != std::string::npos ? s.base_dir / s.value : fs::path(util::which(s.value));
    if (p.is_relative() && s.value.find('/') == std::string::npos) return std::nullopt; // not on PATH
    if (::access(p.c_str(), X_OK) != 0) return std::nullopt;
    std::error_code ec;
    auto canon = fs::canonical(p, ec);
    return ec ? p : canon;
}

Result<WrapperEdit> set_rustc_wrapper(std::string_view text, std::string_view wrapper, std::string_view name) {
    auto old = parse_toml(text, name);
    if (!old) return std::unexpected(Error{ErrorKind::invalid_input, old.error().message + "; not changed (fix it by hand)"});
    WrapperEdit edit;
    edit.text = std::string(text);
    auto build = (*old)["build"];
    if (build && !build.is_table())
        return fail(ErrorKind::invalid_input, std::string(name) + ": build is not a table; not changed (fix it by hand)");
    auto current = build["rustc-wrapper"];
    if (current) {
        if (!current.is_string())
            return fail(ErrorKind::invalid_input,
                        std::string(name) + ": build.rustc-wrapper is not a string; not changed (fix it by hand)");
        edit.previous = current.value<std::string>();
        if (*edit.previous == ascii_only(wrapper)) return edit;
    }

    // What the file must say afterwards: everything it said, and the new wrapper.
    toml::table expected = *old;
    if (!expected.contains("build")) expected.insert("build", toml::table{});
    expected["build"].as_table()->insert_or_assign("rustc-wrapper", ascii_only(wrapper));

    const std::string line = "rustc-wrapper = " + quoted(wrapper);
    auto lines = split_lines(text);
    std::vector<std::string> candidates;
    if (current) {
        // Replace the line that sets it, keeping its indentation and its spelling of the key.
        auto at = current.node()->source().begin.line;
        if (at >= 1 && at <= lines.size()) {
            auto& l = lines[at - 1];
            auto eq = l.find('=');
            if (eq != std::string::npos) {
                auto copy = lines;
                copy[at - 1] = l.substr(0, eq) + "= " + quoted(wrapper);
                candidates.push_back(join_lines(copy));
            }
        }
    } else {
        for (std::size_t i = 0; i < lines.size(); ++i)
            if (is_build_header(lines[i])) {
                auto copy = lines;
                copy.insert(copy.begin() + std::ptrdiff_t(i) + 1, line);
                candidates.push_back(join_lines(copy));
                break;
            }
        std::string appended(text);
        if (!appended.empty() && !appended.ends_with('\n')) appended += '\n';
        candidates.push_back(appended + (appended.empty() ? "" : "\n") + "[build]\n" + line + "\n");
        candidates.push_back("build." + line + "\n" + std::string(text));
    }
    for (auto& c : candidates) {
        auto parsed = parse_toml(c, name);
        if (parsed && *parsed == expected) {
            edit.text = std::move(c);
            edit.changed = true;
            return edit;
        }
    }
    return fail(ErrorKind::invalid_input, std::string(name) +
                                              ": cannot add build.rustc-wrapper without changing other settings; not "
                                              "changed (set it by hand: [build] rustc-wrapper = " + quoted(wrapper) + ")");
}

} // namespace kache::config
