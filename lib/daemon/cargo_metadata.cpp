#include "cargo_metadata.hpp"

#include <kache/daemon.hpp>
#include <kache/util/process.hpp>

#include <simdjson.h>

#include <unistd.h>

#include <functional>
#include <map>
#include <set>

namespace kache::daemon {

namespace fs = std::filesystem;

std::optional<fs::path> find_upwards(const fs::path& start, const std::string& name) {
    for (fs::path dir = start;; dir = dir.parent_path()) {
        if (::access((dir / name).c_str(), R_OK) == 0) return dir / name;
        if (dir.empty() || dir == dir.parent_path()) return std::nullopt;
    }
}

std::optional<fs::path> find_cargo_lock(const fs::path& start) { return find_upwards(start, "Cargo.lock"); }

Result<std::vector<PackageVersion>> parse_cargo_metadata(std::string_view text) {
    struct Package {
        std::string name, version;
        std::vector<std::string> deps;
    };
    simdjson::dom::parser p;
    simdjson::padded_string json(text);
    simdjson::dom::element doc;
    if (p.parse(json).get(doc)) return fail(ErrorKind::invalid_input, "cargo metadata printed invalid JSON");
    std::map<std::string, Package> pkgs;
    simdjson::dom::array packages;
    if (doc["packages"].get_array().get(packages)) return fail(ErrorKind::invalid_input, "cargo metadata: no packages");
    for (auto pkg : packages) {
        std::string_view id, name, version;
        if (pkg["id"].get_string().get(id) || pkg["name"].get_string().get(name) || pkg["version"].get_string().get(version))
            continue;
        pkgs[std::string(id)] = {std::string(name), std::string(version), {}};
    }
    simdjson::dom::array nodes;
    if (!doc["resolve"]["nodes"].get_array().get(nodes)) {
        for (auto node : nodes) {
            std::string_view id;
            if (node["id"].get_string().get(id)) continue;
            auto it = pkgs.find(std::string(id));
            if (it == pkgs.end()) continue;
            simdjson::dom::array deps;
            if (node["dependencies"].get_array().get(deps)) continue;
            for (auto d : deps) {
                std::string_view dep;
                if (!d.get_string().get(dep)) it->second.deps.emplace_back(dep);
            }
        }
    }
    // Depth-first post-order: every package after its dependencies.
    std::vector<PackageVersion> order;
    std::set<std::string> done;
    std::function<void(const std::string&, int)> visit = [&](const std::string& id, int depth) {
        if (depth > k_max_dependency_depth || !done.insert(id).second) return;
        auto it = pkgs.find(id);
        if (it == pkgs.end()) return;
        for (auto& d : it->second.deps) visit(d, depth + 1);
        order.push_back({it->second.name, it->second.version});
    };
    for (auto& [id, _] : pkgs) visit(id, 0);
    return order;
}

Result<std::vector<PackageVersion>> dependency_order(const fs::path& start) {
    auto manifest = find_upwards(start, "Cargo.toml");
    if (!manifest) return fail(ErrorKind::not_found, "no Cargo.toml at or above " + start.string());
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
