// The workspace's member packages, for `kache sync --workspace`
// (kache/remote/sync.hpp). cargo itself resolves members (globs, excludes,
// nested paths), so the answer matches what it builds.
#include <kache/remote/layout.hpp>
#include <kache/remote/sync.hpp>
#include <kache/util/process.hpp>

#include <simdjson.h>

namespace kache::remote {

Result<std::set<std::string>> parse_workspace_members(std::string_view text) {
    if (text.size() > k_max_metadata_bytes) return fail(ErrorKind::invalid_input, "cargo metadata printed too much");
    simdjson::dom::parser parser;
    simdjson::padded_string json(text);
    simdjson::dom::element doc;
    if (parser.parse(json).get(doc)) return fail(ErrorKind::invalid_input, "cargo metadata printed invalid JSON");
    simdjson::dom::array packages;
    if (doc["packages"].get_array().get(packages))
        return fail(ErrorKind::invalid_input, "cargo metadata printed no package list");
    std::set<std::string> out;
    for (auto pkg : packages) {
        std::string_view name;
        if (pkg["name"].get_string().get(name) || name.empty())
            return fail(ErrorKind::invalid_input, "cargo metadata printed a package without a name");
        out.insert(key_safe(name));
        if (out.size() > k_max_workspace_members)
            return fail(ErrorKind::invalid_input, "cargo metadata listed too many workspace members");
    }
    if (out.empty()) return fail(ErrorKind::invalid_input, "cargo metadata listed no workspace members");
    return out;
}

Result<std::set<std::string>> workspace_members(const std::filesystem::path& dir) {
    // --no-deps: members only, no dependency resolution, so no network and no lockfile
    // change. The directory is an argument ("$1"), never pasted into the script.
    auto run = util::run_capture({"/bin/sh", "-c", "cd \"$1\" && exec cargo metadata --no-deps --format-version 1 --offline",
                                  "sh", dir.string()});
    if (!run || run->exit_code != 0) {
        std::string why = run ? run->err : run.error().message;
        if (auto nl = why.find('\n'); nl != std::string::npos) why.resize(nl);
        return fail(ErrorKind::unsupported,
                    "cannot read the workspace members (cargo metadata failed in " + dir.string() + ")" +
                        (why.empty() ? "" : ": " + why));
    }
    return parse_workspace_members(run->out);
}

} // namespace kache::remote
