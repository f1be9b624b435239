// Is cargo wired to kache: the wrapper it runs, from the environment or its config files.
#include <kache/config/cargo_config.hpp>
#include <kache/doctor.hpp>

#include <system_error>

namespace kache::doctor {

namespace fs = std::filesystem;

namespace {

bool same_file(const fs::path& a, const fs::path& b) {
    std::error_code ec;
    return fs::equivalent(a, b, ec) && !ec;
}

std::string describe(const config::WrapperSetting& s) {
    return s.from_file ? "build.rustc-wrapper in " + s.source : s.source;
}

// How to point cargo at kache instead of what s sets.
std::string fix_for(const config::WrapperSetting& s, const fs::path& self, const fs::path& cargo_home) {
    if (!s.from_file) return "unset " + s.source + ", or export " + s.source + "=" + self.string();
    if (fs::path(s.source).parent_path() == cargo_home)
        return "run `kache init -y` to replace it (or edit " + s.source + ")";
    return "set build.rustc-wrapper = \"" + self.string() + "\" in " + s.source;
}

} // namespace

std::vector<Finding> check_wiring(const fs::path& cwd, const fs::path& cargo_home, const fs::path& self) {
    std::vector<Finding> out;
    auto found = config::find_rustc_wrapper(cwd, cargo_home);
    for (auto& p : found.problems)
        out.push_back({Status::problem, "cargo config: " + p, "fix the file: cargo refuses it too"});
    if (!found.wrapper) {
        out.push_back({Status::problem, "kache is not cargo's compiler wrapper (no RUSTC_WRAPPER, no build.rustc-wrapper)",
                       "run `kache init`, or export RUSTC_WRAPPER=" + self.string()});
    } else {
        auto& w = *found.wrapper;
        auto path = config::resolve_wrapper(w);
        bool is_kache = fs::path(w.value).filename() == "kache";
        if (w.value.empty()) {
            out.push_back({Status::problem, describe(w) + " is empty, which turns cargo's compiler wrapper off",
                           fix_for(w, self, cargo_home)});
        } else if (path && same_file(*path, self)) {
            out.push_back({Status::ok, "cargo runs this kache as its compiler wrapper (" + describe(w) + ")", {}});
        } else if (is_kache && path) {
            out.push_back({Status::note, describe(w) + " names " + path->string() + ", another kache than this one (" +
                                             self.string() + ")", {}});
        } else if (!path) {
            out.push_back({Status::problem, describe(w) + " = \"" + w.value + "\" is not an executable (not found" +
                                                (w.value.find('/') == std::string::npos ? " on PATH)" : ")"),
                           fix_for(w, self, cargo_home)});
        } else {
            out.push_back({Status::problem, "cargo's compiler wrapper is " + w.value + " (" + describe(w) +
                                                "), not kache: builds bypass the cache",
                           fix_for(w, self, cargo_home)});
        }
        // A setting it overrides still applies wherever the override is absent (another shell, CI).
        for (auto& s : found.shadowed) {
            auto sp = config::resolve_wrapper(s);
            if (s.value.empty() || !sp || !same_file(*sp, self))
                out.push_back({Status::note, describe(s) + " = \"" + s.value + "\" is overridden here by " +
                                                 describe(w) + ", but applies where that is not set", {}});
        }
    }
    if (auto& ww = found.workspace_wrapper; ww && !ww->value.empty())
        out.push_back({Status::note, (ww->from_file ? "build.rustc-workspace-wrapper in " + ww->source : ww->source) +
                                         " = \"" + ww->value + "\" also wraps workspace members: kache runs it on a miss",
                       {}});
    return out;
}

} // namespace kache::doctor
