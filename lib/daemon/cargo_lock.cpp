// A workspace's dependency graph read straight from its Cargo.lock: prefetch can
// start at once instead of after `cargo metadata` (a cargo start-up, a read of
// every manifest: a good part of a second on a busy machine, before the first pack).
#include "cargo_metadata.hpp"

#include <kache/daemon.hpp>
#include <kache/util/fs.hpp>

#include <map>

namespace kache::daemon {

namespace {

// Cargo.lock files of the largest workspaces are a few MiB.
inline constexpr std::uint64_t k_max_cargo_lock_bytes = 32 << 20;

// `"text",` or `name = "text"` -> text; empty when the line holds no quoted string.
std::string_view quoted(std::string_view line) {
    auto a = line.find('"');
    if (a == std::string_view::npos) return {};
    auto b = line.find('"', a + 1);
    if (b == std::string_view::npos) return {};
    return line.substr(a + 1, b - a - 1);
}

} // namespace

Result<std::vector<PackageVersion>> parse_cargo_lock(std::string_view text) {
    std::vector<DependencyNode> nodes;
    // A dependency entry reads "name", "name version" or "name version (source)".
    std::vector<std::vector<std::string>> dep_text;
    bool in_package = false, in_deps = false;
    for (std::size_t pos = 0; pos < text.size();) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (in_deps) {
            if (line.starts_with("]")) in_deps = false;
            else if (auto d = quoted(line); !d.empty()) dep_text.back().emplace_back(d);
            continue;
        }
        if (line.starts_with("[[package]]")) {
            in_package = true;
            nodes.push_back({});
            dep_text.emplace_back();
        } else if (line.starts_with("[")) in_package = false;
        else if (!in_package) continue;
        else if (line.starts_with("name = ")) nodes.back().package.name = std::string(quoted(line));
        else if (line.starts_with("version = ")) nodes.back().package.version = std::string(quoted(line));
        else if (line.starts_with("dependencies = [")) {
            in_deps = !line.ends_with("]");
            // The one-line form, ["a", "b 1.0"], which cargo itself does not write.
            for (auto rest = line.substr(16); !quoted(rest).empty();) {
                auto d = quoted(rest);
                dep_text.back().emplace_back(d);
                rest = rest.substr(static_cast<std::size_t>(d.data() + d.size() + 1 - rest.data()));
            }
        }
    }
    // Resolve each entry to a package: by name when only one version is locked, else by name and version.
    std::multimap<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < nodes.size(); ++i) by_name.emplace(nodes[i].package.name, i);
    for (std::size_t i = 0; i < nodes.size(); ++i)
        for (auto& d : dep_text[i]) {
            auto sp = d.find(' ');
            std::string name = d.substr(0, sp);
            std::string version;
            if (sp != std::string::npos) version = d.substr(sp + 1, d.find(' ', sp + 1) - sp - 1);
            auto [lo, hi] = by_name.equal_range(name);
            for (auto it = lo; it != hi; ++it)
                if (version.empty() || nodes[it->second].package.version == version) {
                    nodes[i].deps.push_back(it->second);
                    break;
                }
        }
    for (auto& n : nodes)
        if (n.package.name.empty() || n.package.version.empty())
            return fail(ErrorKind::invalid_input, "Cargo.lock has a package without a name or version");
    if (nodes.empty()) return fail(ErrorKind::invalid_input, "Cargo.lock lists no packages");
    return order_by_depth(nodes);
}

Result<std::vector<PackageVersion>> lockfile_order(const std::filesystem::path& lockfile) {
    auto text = util::read_file_bounded(lockfile, k_max_cargo_lock_bytes);
    if (!text) return std::unexpected(text.error());
    return parse_cargo_lock(*text);
}

} // namespace kache::daemon
