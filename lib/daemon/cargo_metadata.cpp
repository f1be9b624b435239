#include "cargo_metadata.hpp"

#include <kache/daemon.hpp>
#include <kache/util/process.hpp>

#include <simdjson.h>

#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>

namespace kache::daemon {

namespace fs = std::filesystem;

std::optional<fs::path> find_upwards(const fs::path& start, const std::string& name) {
    for (fs::path dir = start;; dir = dir.parent_path()) {
        if (::access((dir / name).c_str(), R_OK) == 0) return dir / name;
        if (dir.empty() || dir == dir.parent_path()) return std::nullopt;
    }
}

std::optional<fs::path> find_cargo_lock(const fs::path& start) { return find_upwards(start, "Cargo.lock"); }

std::vector<PackageVersion> order_by_depth(const std::vector<DependencyNode>& nodes) {
    constexpr int k_unknown = -1, k_visiting = -2;
    std::vector<int> depth(nodes.size(), k_unknown);
    std::function<int(std::size_t, int)> depth_of = [&](std::size_t i, int level) -> int {
        if (depth[i] >= 0) return depth[i];
        if (depth[i] == k_visiting || level > k_max_dependency_depth) return 0; // a cycle: cut here
        depth[i] = k_visiting;
        int d = 0;
        for (auto dep : nodes[i].deps)
            if (dep < nodes.size() && dep != i) d = std::max(d, depth_of(dep, level + 1) + 1);
        return depth[i] = d;
    };
    std::vector<std::size_t> idx(nodes.size());
    for (std::size_t i = 0; i < nodes.size(); ++i) {
        idx[i] = i;
        depth_of(i, 0);
    }
    std::stable_sort(idx.begin(), idx.end(), [&](auto a, auto b) { return depth[a] < depth[b]; });
    std::vector<PackageVersion> order;
    order.reserve(idx.size());
    for (auto i : idx) order.push_back(nodes[i].package);
    return order;
}

Result<std::vector<PackageVersion>> parse_cargo_metadata(std::string_view text) {
    simdjson::dom::parser p;
    simdjson::padded_string json(text);
    simdjson::dom::element doc;
    if (p.parse(json).get(doc)) return fail(ErrorKind::invalid_input, "cargo metadata printed invalid JSON");
    std::vector<DependencyNode> nodes;
    std::map<std::string, std::size_t, std::less<>> index;
    simdjson::dom::array packages;
    if (doc["packages"].get_array().get(packages)) return fail(ErrorKind::invalid_input, "cargo metadata: no packages");
    for (auto pkg : packages) {
        std::string_view id, name, version;
        if (pkg["id"].get_string().get(id) || pkg["name"].get_string().get(name) || pkg["version"].get_string().get(version))
            continue;
        if (!index.emplace(std::string(id), nodes.size()).second) continue;
        nodes.push_back({{std::string(name), std::string(version)}, {}});
    }
    simdjson::dom::array resolved;
    if (!doc["resolve"]["nodes"].get_array().get(resolved)) {
        for (auto node : resolved) {
            std::string_view id;
            if (node["id"].get_string().get(id)) continue;
            auto it = index.find(id);
            if (it == index.end()) continue;
            simdjson::dom::array deps;
            if (node["dependencies"].get_array().get(deps)) continue;
            for (auto d : deps) {
                std::string_view dep;
                if (d.get_string().get(dep)) continue;
                if (auto to = index.find(dep); to != index.end()) nodes[it->second].deps.push_back(to->second);
            }
        }
    }
    return order_by_depth(nodes);
}

Result<std::vector<PackageVersion>> dependency_order(const fs::path& start) {
    auto manifest = find_upwards(start, "Cargo.toml");
    if (!manifest) return fail(ErrorKind::not_found, "no Cargo.toml at or above " + start.string());
    // A lock that is a step behind a Cargo.toml edit costs a few packages fetched for
    // nothing or missed by prefetch (remote checks still find those): no wrong hit.
    if (auto lock = find_cargo_lock(manifest->parent_path()))
        if (auto order = lockfile_order(*lock)) return order;
    fs::path dir = manifest->parent_path();
    // In the workspace's directory: cargo reads .cargo/config.toml (source
    // replacement, offline registries) from the working directory up, not from
    // the manifest's. The directory is an argument ("$1"), never pasted into the script.
    auto run = util::run_capture({"/bin/sh", "-c",
                                  "cd \"$1\" && exec cargo metadata --format-version 1 --offline --manifest-path "
                                  "\"$1/Cargo.toml\"",
                                  "sh", dir.string()});
    if (!run || run->exit_code != 0) {
        std::string why = run ? run->err : run.error().message;
        if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
        return fail(ErrorKind::unsupported, "cargo metadata failed in " + dir.string() + (why.empty() ? "" : ": " + why));
    }
    return parse_cargo_metadata(run->out);
}

} // namespace kache::daemon
