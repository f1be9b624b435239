// why-miss's comparison: a miss against the nearest recorded key of its unit, each
// difference named in the user's terms (a flag, a variable, a file, a dependency, a
// feature, the profile, the toolchain).
#include <kache/rustc.hpp>
#include <kache/why.hpp>

#include <algorithm>
#include <map>
#include <set>

namespace kache::why {

namespace {

// Printed values are cut to this many characters.
constexpr std::size_t k_max_shown_value = 120;
// What the wrapper keys for a variable that is asked for but unset.
constexpr std::string_view k_unset_value = "\x01unset";
// Variable names kache uses for its path-specific markers (never a real variable: '=').
constexpr std::string_view k_path_marker_prefix = "=path-root:";

std::vector<std::string> lines_of(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) nl = text.size();
        if (nl > pos) out.emplace_back(text.substr(pos, nl - pos));
        pos = nl + 1;
    }
    return out;
}

const std::string* component(const Record& r, std::string_view name) {
    for (auto& c : r.components)
        if (c.name == name) return &c.value;
    return nullptr;
}

std::string shown(std::string_view v) {
    std::string s(v.substr(0, k_max_shown_value));
    for (auto& c : s)
        if (static_cast<unsigned char>(c) < 0x20) c = '?';
    return "\"" + s + (v.size() > k_max_shown_value ? "...\"" : "\"");
}

// How paths and values are shown: expanded for this checkout, relative to the workspace.
struct Display {
    key::PathMap paths;
    std::string cwd;

    std::string path(std::string_view normalized) const {
        std::string p = paths.expand(normalized);
        if (!cwd.empty() && p.starts_with(cwd + "/")) return p.substr(cwd.size() + 1);
        return p;
    }
    std::string value(std::string_view name, const std::optional<std::string>& v) const {
        if (!v || *v == k_unset_value) return "unset";
        if (is_secret_name(name)) return "(value not shown)";
        return shown(paths.expand(*v));
    }
};

// One line of K1's "args" component: "FLAG VALUE", or a positional argument.
struct ArgLine {
    std::string flag, value;
    std::string text() const { return flag.empty() ? value : value.empty() ? flag : flag + " " + value; }
};

ArgLine split_arg(const std::string& line) {
    if (line.starts_with("-")) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) return {line, ""};
        return {line.substr(0, sp), line.substr(sp + 1)};
    }
    return {"", line};
}

bool is_profile_option(std::string_view name) {
    static const std::set<std::string_view> k_profile = {
        "opt-level", "debuginfo", "debug-assertions", "overflow-checks", "lto",           "codegen-units",
        "panic",     "strip",     "split-debuginfo",  "embed-bitcode",   "rpath",         "incremental",
        "linker-plugin-lto", "force-frame-pointers"};
    return k_profile.contains(name);
}

// The class of an argument and the key that pairs an old and a new one.
std::pair<std::string, std::string> classify(const ArgLine& a) {
    if (a.flag == "--cfg" && a.value.starts_with("feature=")) return {"feature", a.value};
    if (a.flag == "--extern") return {"extern", a.value.substr(0, a.value.find('='))};
    if (a.flag == "--emit") return {"emit", ""};
    if (a.flag == "--out-dir") return {"outdir", ""};
    // Follows the output directory: never news of its own.
    if (a.flag == "-L" && a.value.starts_with("dependency=")) return {"quiet", a.value};
    if (a.flag == "-C") {
        std::string name = rustc::codegen_option_name(a.value);
        if (name == "metadata" || name == "extra-filename") return {"hash", name};
        if (is_profile_option(name)) return {"profile", name};
        return {"flag", "-C " + name};
    }
    return {"flag", a.text()};
}

// Did cargo take this argument from RUSTFLAGS?
bool from_rustflags(const ArgLine& a, const std::vector<std::string>& words) {
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (a.flag.empty() || a.value.empty()) {
            if (words[i] == a.text()) return true;
            continue;
        }
        if (words[i] == a.flag && i + 1 < words.size() && words[i + 1] == a.value) return true;
        if (words[i] == a.flag + "=" + a.value || words[i] == a.flag + a.value) return true;
    }
    return false;
}

struct Comparison {
    std::set<std::string> components; // names of the K1 components that differ
    std::vector<std::string> changes;
    std::size_t detail = 0;           // changed lines, to break ties
};

void compare_args(const std::string& old_text, const std::string& new_text, const Record& old_rec,
                  const Record& miss, const Display& show, Comparison& out) {
    auto old_lines = lines_of(old_text), new_lines = lines_of(new_text);
    std::multiset<std::string> olds(old_lines.begin(), old_lines.end()), news(new_lines.begin(), new_lines.end());
    std::vector<ArgLine> removed, added;
    for (auto& l : old_lines)
        if (auto it = news.find(l); it != news.end()) news.erase(it);
        else removed.push_back(split_arg(l));
    for (auto& l : new_lines)
        if (auto it = olds.find(l); it != olds.end()) olds.erase(it);
        else added.push_back(split_arg(l));
    out.detail += removed.size() + added.size();

    auto origin = [&](const ArgLine& a, const std::vector<std::string>& words) {
        return from_rustflags(a, words) ? std::string(" (from RUSTFLAGS)") : std::string();
    };
    std::vector<std::string> lines, hash_lines;
    std::vector<bool> paired(added.size(), false);
    for (auto& r : removed) {
        auto [cls, key] = classify(r);
        std::optional<std::size_t> match;
        if (cls != "feature" && cls != "flag")
            for (std::size_t i = 0; i < added.size() && !match; ++i)
                if (!paired[i] && classify(added[i]) == std::pair(cls, key)) match = i;
        if (cls == "quiet") continue;
        if (cls == "hash") {
            if (match) paired[*match] = true;
            hash_lines.push_back("cargo's hash of the unit changed (-C " + key +
                                 "): Cargo.toml, Cargo.lock, the profile or the features differ");
            continue;
        }
        if (match) {
            paired[*match] = true;
            const ArgLine& a = added[*match];
            if (cls == "extern")
                lines.push_back("dependency " + key + " changed (its --extern file differs: it was rebuilt)");
            else if (cls == "outdir")
                lines.push_back("output directory changed: " + show.path(r.value) + " -> " + show.path(a.value) +
                                " (another profile or target)");
            else if (cls == "emit")
                lines.push_back("outputs asked for changed: --emit " + r.value + " -> " + a.value +
                                " (cargo check and cargo build differ)");
            else
                lines.push_back("profile changed: " + r.text() + " -> " + a.text() + origin(a, miss.rustflags));
        } else if (cls == "feature") {
            lines.push_back("feature " + r.value.substr(8) + " disabled (--cfg " + r.value + ")" +
                            origin(r, old_rec.rustflags));
        } else if (cls == "extern") {
            lines.push_back("dependency " + key + " removed (--extern)");
        } else if (cls == "profile") {
            lines.push_back("profile changed: " + r.text() + " removed" + origin(r, old_rec.rustflags));
        } else {
            lines.push_back("flag removed: " + r.text() + origin(r, old_rec.rustflags));
        }
    }
    for (std::size_t i = 0; i < added.size(); ++i) {
        if (paired[i]) continue;
        const ArgLine& a = added[i];
        auto [cls, key] = classify(a);
        if (cls == "quiet") continue;
        if (cls == "hash") {
            if (hash_lines.empty())
                hash_lines.push_back("cargo's hash of the unit changed (-C " + key +
                                     "): Cargo.toml, Cargo.lock, the profile or the features differ");
        } else if (cls == "feature") {
            lines.push_back("feature " + a.value.substr(8) + " enabled (--cfg " + a.value + ")" +
                            origin(a, miss.rustflags));
        } else if (cls == "extern") {
            lines.push_back("dependency " + key + " added (--extern)");
        } else if (cls == "profile") {
            lines.push_back("profile changed: " + a.text() + " added" + origin(a, miss.rustflags));
        } else {
            lines.push_back("flag added: " + a.text() + origin(a, miss.rustflags));
        }
    }
    // The unit hash follows from other changes; alone it is the only clue.
    if (lines.empty()) lines = std::move(hash_lines);
    for (auto& l : lines) out.changes.push_back(std::move(l));
}

// "NAME=value" lines (the steering variables) by name.
std::map<std::string, std::string> env_lines(const std::string& text) {
    std::map<std::string, std::string> out;
    for (auto& l : lines_of(text)) {
        auto eq = l.find('=');
        if (eq != std::string::npos) out[l.substr(0, eq)] = l.substr(eq + 1);
    }
    return out;
}

void compare_variables(const std::map<std::string, std::optional<std::string>>& olds,
                       const std::map<std::string, std::optional<std::string>>& news, const Display& show,
                       Comparison& out) {
    std::set<std::string> names;
    for (auto& [n, v] : olds) names.insert(n);
    for (auto& [n, v] : news) names.insert(n);
    for (auto& name : names) {
        auto o = olds.find(name), n = news.find(name);
        std::optional<std::string> ov = o == olds.end() ? std::nullopt : o->second;
        std::optional<std::string> nv = n == news.end() ? std::nullopt : n->second;
        if (ov == nv) continue;
        ++out.detail;
        if (name.starts_with(k_path_marker_prefix)) {
            out.changes.push_back("the recorded entry holds the raw path of its " +
                                  name.substr(k_path_marker_prefix.size()) + " directory (" +
                                  (ov ? *ov : std::string("none")) + "): it is served at that path only");
            continue;
        }
        if (is_secret_name(name))
            out.changes.push_back("variable " + name + " changed (values not shown)");
        else
            out.changes.push_back("variable " + name + " changed: " + show.value(name, ov) + " -> " +
                                  show.value(name, nv));
    }
}

// K1's "inputs" lines ("WHY PATH DIGEST") by WHY and PATH.
std::map<std::string, std::string> input_lines(const std::string& text) {
    std::map<std::string, std::string> out;
    for (auto& l : lines_of(text)) {
        auto sp = l.rfind(' ');
        if (sp != std::string::npos) out[l.substr(0, sp)] = l.substr(sp + 1);
    }
    return out;
}

void compare_files(const std::map<std::string, std::string>& olds, const std::map<std::string, std::string>& news,
                   const Display& show, Comparison& out) {
    for (auto& [path, digest] : olds) {
        auto n = news.find(path);
        if (n == news.end()) out.changes.push_back("file removed: " + show.path(path));
        else if (n->second != digest) out.changes.push_back("file changed: " + show.path(path) + " (content changed)");
        else continue;
        ++out.detail;
    }
    for (auto& [path, digest] : news)
        if (!olds.contains(path)) {
            out.changes.push_back("file added: " + show.path(path));
            ++out.detail;
        }
}

void compare_sets(const key::InputSet& old_set, const key::InputSet& new_set, const Display& show, Comparison& out) {
    std::map<std::string, std::string> of, nf;
    for (auto& f : old_set.files) of[f.path] = f.digest.hex();
    for (auto& f : new_set.files) nf[f.path] = f.digest.hex();
    compare_files(of, nf, show, out);
    std::map<std::string, std::optional<std::string>> oe, ne;
    for (auto& [n, v] : old_set.env) oe[n] = v;
    for (auto& [n, v] : new_set.env) ne[n] = v;
    compare_variables(oe, ne, show, out);
}

Comparison compare_components(const Record& old_rec, const Record& miss, const Display& show) {
    Comparison out;
    std::set<std::string> names;
    for (auto& c : old_rec.components) names.insert(c.name);
    for (auto& c : miss.components) names.insert(c.name);
    for (auto& name : names) {
        const std::string* o = component(old_rec, name);
        const std::string* n = component(miss, name);
        std::string ov = o ? *o : "", nv = n ? *n : "";
        if (ov == nv) continue;
        out.components.insert(name);
        if (name == "args") {
            compare_args(ov, nv, old_rec, miss, show, out);
        } else if (name == "env") {
            std::map<std::string, std::optional<std::string>> oe, ne;
            for (auto& [k, v] : env_lines(ov)) oe[k] = v;
            for (auto& [k, v] : env_lines(nv)) ne[k] = v;
            compare_variables(oe, ne, show, out);
        } else if (name == "inputs") {
            compare_files(input_lines(ov), input_lines(nv), show, out);
        } else {
            ++out.detail;
            if (name == "compiler") out.changes.push_back("the toolchain changed (rustc -vV or its driver library)");
            else if (name == "recipe") out.changes.push_back("kache's key recipe changed (kache was upgraded)");
            else if (name == "mode") out.changes.push_back("the tool changed: " + ov + " -> " + nv);
            else if (name == "linker") out.changes.push_back("the linker changed");
            else if (name == "host-cpu") out.changes.push_back("the host CPU (-C target-cpu=native) changed");
            else if (name == "cwd")
                out.changes.push_back("the working directory changed: " + show.path(ov) + " -> " + show.path(nv));
            else if (name == "paths")
                out.changes.push_back("the build ran at another path, without path remapping");
            else out.changes.push_back("key component " + name + " changed");
        }
    }
    return out;
}

} // namespace

bool is_secret_name(std::string_view name) {
    std::string up(name);
    for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    for (std::string_view word : {"KEY", "SECRET", "TOKEN", "PASSWORD"})
        if (up.find(word) != std::string::npos) return true;
    return false;
}

Explanation explain(const store::Store& s, const Record& miss) {
    Display show{key::PathMap(miss.roots), ""};
    for (auto& r : miss.roots)
        if (r.name == "cwd") show.cwd = r.path;

    Explanation best;
    best.never_built = true;
    std::optional<std::tuple<std::size_t, std::size_t, std::int64_t>> best_score;
    for (auto& rec : recorded(s, miss.unit)) {
        auto manifest = s.read_manifest(rec.k1);
        if (!manifest) continue; // that key is gone from the store
        // The input sets recorded under that key before this miss, the miss's own aside.
        std::vector<const key::InputSet*> sets;
        for (auto& set : manifest->sets) {
            if (miss.k2 && key::result_key(rec.k1, set) == *miss.k2) continue;
            if (set.created_ms > miss.time_ms) continue;
            sets.push_back(&set);
        }
        if (sets.empty()) continue;
        Comparison base = compare_components(rec, miss, show);
        // The nearest input set under that key (all compare alike when the miss's is unknown).
        std::optional<Comparison> nearest;
        std::int64_t when = 0;
        for (auto* set : sets) {
            Comparison c = base;
            if (miss.inputs) compare_sets(*set, *miss.inputs, show, c);
            if (!nearest || c.detail < nearest->detail) {
                nearest = std::move(c);
                when = set->created_ms;
            }
        }
        // Fewest differing components, then fewest differing lines, then the newest.
        auto score = std::make_tuple(nearest->components.size() + (nearest->detail > base.detail ? 1 : 0),
                                     nearest->detail, -when);
        if (best_score && score >= *best_score) continue;
        best_score = score;
        best.never_built = false;
        best.nearest_ms = when;
        best.changes = std::move(nearest->changes);
        if (!miss.inputs && !miss.note.empty())
            best.changes.push_back("the inputs of this compile are unknown (" + miss.note + ")");
    }
    if (!best.never_built && best.changes.empty())
        best.changes.push_back("nothing differs from the recorded entry: it was removed (kache gc, the size cap "
                               "or kache purge) or another process was recording it at the same time");
    return best;
}

} // namespace kache::why
