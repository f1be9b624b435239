#include <kache/rustc.hpp>

#include <unordered_set>

namespace kache::rustc {

namespace {

// rustc escapes spaces in file names as "\ " (and nothing else).
// Paths escape only spaces ("\\ "); copied a run at a time (dep-info is read
// and written on every restore).
std::string unescape_path(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t from = 0;
    for (size_t i = s.find('\\'); i != std::string_view::npos && i + 1 < s.size(); i = s.find('\\', i + 1)) {
        if (s[i + 1] != ' ') continue;
        out.append(s, from, i - from);
        from = i + 1; // the space itself is copied with the next run
        ++i;
    }
    out.append(s, from);
    return out;
}

std::string escape_path(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 8);
    size_t from = 0;
    for (size_t i = s.find(' '); i != std::string_view::npos; i = s.find(' ', i + 1)) {
        out.append(s, from, i - from);
        out.push_back('\\');
        from = i;
    }
    out.append(s, from);
    return out;
}

// env-dep names and values escape \n, \r and backslash.
Result<std::string> unescape_env(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 1 >= s.size()) return fail(ErrorKind::invalid_input, "dep-info: dangling backslash in env-dep");
        char n = s[++i];
        if (n == 'n') out.push_back('\n');
        else if (n == 'r') out.push_back('\r');
        else if (n == '\\') out.push_back('\\');
        else return fail(ErrorKind::invalid_input, std::string("dep-info: unknown escape \\") + n + " in env-dep");
    }
    return out;
}

std::string escape_env(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\\') out += "\\\\";
        else out.push_back(c);
    }
    return out;
}

// Splits on spaces that are not escaped.
std::vector<std::string> split_deps(std::string_view s) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i) {
        if (i < s.size() && s[i] == '\\' && i + 1 < s.size() && s[i + 1] == ' ') {
            ++i;
            continue;
        }
        if (i < s.size() && s[i] != ' ') continue;
        if (i > start) out.push_back(unescape_path(s.substr(start, i - start)));
        start = i + 1;
    }
    return out;
}

} // namespace

std::vector<std::string> DepInfo::inputs() const {
    std::vector<std::string> out;
    std::unordered_set<std::string> seen;
    for (auto& r : rules)
        for (auto& d : r.deps)
            if (seen.insert(d).second) out.push_back(d);
    return out;
}

void DepInfo::map_paths(const std::function<std::string(const std::string&)>& f) {
    for (auto& r : rules) {
        r.target = f(r.target);
        for (auto& d : r.deps) d = f(d);
    }
    for (auto& [name, value] : env_deps)
        if (value) value = f(*value);
}

Result<DepInfo> parse_dep_info(std::string_view text) {
    DepInfo dep;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;
        if (line[0] == '#') {
            constexpr std::string_view k_env = "# env-dep:";
            if (line.rfind(k_env, 0) == 0) {
                std::string_view rest = line.substr(k_env.size());
                // The name cannot contain '=' (an escaped name never gains one).
                auto eq = rest.find('=');
                auto name = unescape_env(rest.substr(0, eq));
                if (!name) return std::unexpected(name.error());
                std::optional<std::string> value;
                if (eq != std::string_view::npos) {
                    auto v = unescape_env(rest.substr(eq + 1));
                    if (!v) return std::unexpected(v.error());
                    value = std::move(*v);
                }
                dep.env_deps.emplace_back(std::move(*name), std::move(value));
            } else {
                dep.comments.emplace_back(line);
            }
            continue;
        }
        // "target: dep dep" — the separator is the first unescaped ':' followed by
        // a space or the end of the line.
        size_t colon = std::string_view::npos;
        for (size_t i = 0; i < line.size(); ++i) {
            if (line[i] == '\\' && i + 1 < line.size()) {
                ++i;
                continue;
            }
            if (line[i] == ':' && (i + 1 == line.size() || line[i + 1] == ' ')) {
                colon = i;
                break;
            }
        }
        if (colon == std::string_view::npos)
            return fail(ErrorKind::invalid_input, "dep-info: line without a rule: " + std::string(line.substr(0, 200)));
        DepInfo::Rule rule;
        rule.target = unescape_path(line.substr(0, colon));
        rule.deps = split_deps(line.substr(colon + 1));
        dep.rules.push_back(std::move(rule));
    }
    return dep;
}

std::string write_dep_info(const DepInfo& dep) {
    std::string out;
    for (auto& r : dep.rules) {
        out += escape_path(r.target);
        out += ':';
        if (r.deps.empty()) {
            out += '\n';
            continue;
        }
        for (auto& d : r.deps) {
            out += ' ';
            out += escape_path(d);
        }
        out += "\n\n";
    }
    if (!dep.env_deps.empty()) {
        out += '\n';
        for (auto& [name, value] : dep.env_deps) {
            out += "# env-dep:" + escape_env(name);
            if (value) out += "=" + escape_env(*value);
            out += '\n';
        }
    }
    for (auto& c : dep.comments) out += c + "\n";
    return out;
}

} // namespace kache::rustc
