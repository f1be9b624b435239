// Text forms of entries and manifests. Fields are space-separated tokens;
// strings are escaped (\\ \s \t \n) so a token never contains a separator.
#include <kache/store.hpp>

#include <charconv>
#include <string>
#include <vector>

namespace kache::store {

namespace {

std::string esc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '\\': out += "\\\\"; break;
        case ' ': out += "\\s"; break;
        case '\t': out += "\\t"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

std::optional<std::string> unesc(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '\\') {
            out.push_back(s[i]);
            continue;
        }
        if (++i >= s.size()) return std::nullopt;
        switch (s[i]) {
        case '\\': out.push_back('\\'); break;
        case 's': out.push_back(' '); break;
        case 't': out.push_back('\t'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        default: return std::nullopt;
        }
    }
    return out;
}

std::vector<std::string_view> tokens(std::string_view line) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < line.size()) {
        size_t j = line.find(' ', i);
        if (j == std::string_view::npos) j = line.size();
        out.push_back(line.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

template <class T>
bool num(std::string_view s, T& out, int base = 10) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return ec == std::errc() && p == s.data() + s.size();
}

Result<void> bad(std::string_view what, std::string_view line) {
    return fail(ErrorKind::corrupt, std::string(what) + ": malformed line '" + std::string(line.substr(0, 120)) + "'");
}

// Iterates lines of text.
struct Lines {
    std::string_view text;
    size_t pos = 0;
    bool next(std::string_view& line) {
        if (pos >= text.size()) return false;
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        line = text.substr(pos, end - pos);
        pos = end + 1;
        return true;
    }
};

constexpr std::uint64_t k_max_output_size = 64ull << 30;
constexpr size_t k_max_outputs = 4096;
constexpr size_t k_max_sets = 1024;
constexpr size_t k_max_files = 1 << 20;
constexpr size_t k_max_env = 1 << 16;
constexpr size_t k_max_input_path = 4096; // PATH_MAX

// Directories whose files are not sources: devices, FIFOs and endless pseudo-files. An
// input set that names one (only a hostile or damaged manifest can) never matches.
constexpr std::string_view k_special_dirs[] = {"/dev/", "/proc/", "/sys/"};

// An input path as a manifest may hold it: in sentinel form ("{{kache:cwd}}/src/lib.rs"),
// relative to the working directory as rustc wrote it, or absolute outside the special
// directories (a dependency in a system directory); no control characters.
bool valid_input_path(std::string_view p) {
    if (p.empty() || p.size() > k_max_input_path) return false;
    for (char c : p)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
    if (p[0] != '/') return true;
    // The first directory the absolute path reaches, with "//", "/./" and "/../" spellings
    // resolved ("/usr/../dev/zero" reaches /dev). Most paths have none: one scan.
    std::string first;
    if (p.find("//") == std::string_view::npos && p.find("/.") == std::string_view::npos) {
        first = std::string(p.substr(0, p.find('/', 1)));
    } else {
        std::vector<std::string_view> parts;
        for (size_t i = 0; i < p.size();) {
            size_t j = p.find('/', i);
            if (j == std::string_view::npos) j = p.size();
            std::string_view part = p.substr(i, j - i);
            if (part == "..") {
                if (!parts.empty()) parts.pop_back();
            } else if (!part.empty() && part != ".") {
                parts.push_back(part);
            }
            i = j + 1;
        }
        if (!parts.empty()) first = "/" + std::string(parts[0]);
    }
    for (auto dir : k_special_dirs)
        if (first == dir.substr(0, dir.size() - 1)) return false;
    return true;
}

} // namespace

bool valid_output_name(std::string_view name) {
    if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
    for (char c : name)
        if (c == '/' || c == '\0') return false;
    return true;
}

std::uint64_t Entry::total_size() const {
    std::uint64_t n = 0;
    for (auto& o : outputs) n += o.size;
    return n;
}

std::vector<hash::Digest> Entry::blobs() const {
    std::vector<hash::Digest> out;
    for (auto& o : outputs) out.push_back(o.blob);
    if (stdout_blob) out.push_back(*stdout_blob);
    if (stderr_blob) out.push_back(*stderr_blob);
    return out;
}

std::string serialize_entry(const Entry& e) {
    std::string out = "kache-entry 1\n";
    out += "crate " + esc(e.crate) + "\n";
    out += "version " + esc(e.version) + "\n";
    out += "k1 " + e.k1.hex() + "\n";
    out += "k2 " + e.k2.hex() + "\n";
    out += "created_ms " + std::to_string(e.created_ms) + "\n";
    out += "compile_ms " + std::to_string(e.compile_ms) + "\n";
    if (e.exit_code != 0) out += "exit " + std::to_string(e.exit_code) + "\n";
    out += "stdout " + (e.stdout_blob ? e.stdout_blob->hex() : std::string("-")) + "\n";
    out += "stderr " + (e.stderr_blob ? e.stderr_blob->hex() : std::string("-")) + "\n";
    for (auto& o : e.outputs) {
        char mode[16];
        std::snprintf(mode, sizeof mode, "%o", o.mode & 07777);
        out += "out " + o.blob.hex() + " " + mode + " " + std::to_string(o.size) + " " +
               (o.dep_info ? "depinfo" : "file") + " " + esc(o.name) + "\n";
    }
    out += "end\n";
    return out;
}

Result<Entry> parse_entry(std::string_view text) {
    Entry e;
    Lines lines{text};
    std::string_view line;
    if (!lines.next(line) || line != "kache-entry 1") return fail(ErrorKind::corrupt, "entry: unknown format");
    bool ended = false, have_k1 = false, have_k2 = false;
    auto digest_opt = [](std::string_view s, std::optional<hash::Digest>& out) {
        if (s == "-") return true;
        auto d = hash::Digest::from_hex(s);
        if (!d) return false;
        out = *d;
        return true;
    };
    while (lines.next(line)) {
        if (line == "end") {
            ended = true;
            break;
        }
        auto t = tokens(line);
        // An empty line has no tokens: malformed, like any other line we do not know.
        if (t.empty()) return std::unexpected(bad("entry", line).error());
        if (t.size() == 2 && t[0] == "crate") {
            auto s = unesc(t[1]);
            if (!s) return std::unexpected(bad("entry", line).error());
            e.crate = *s;
        } else if (t.size() == 1 && t[0] == "crate") {
            e.crate.clear();
        } else if (t.size() <= 2 && t[0] == "version") {
            auto s = unesc(t.size() == 2 ? t[1] : "");
            if (!s) return std::unexpected(bad("entry", line).error());
            e.version = *s;
        } else if (t.size() == 2 && (t[0] == "k1" || t[0] == "k2")) {
            auto d = hash::Digest::from_hex(t[1]);
            if (!d) return std::unexpected(bad("entry", line).error());
            (t[0] == "k1" ? e.k1 : e.k2) = *d;
            (t[0] == "k1" ? have_k1 : have_k2) = true;
        } else if (t.size() == 2 && t[0] == "created_ms") {
            if (!num(t[1], e.created_ms)) return std::unexpected(bad("entry", line).error());
        } else if (t.size() == 2 && t[0] == "compile_ms") {
            if (!num(t[1], e.compile_ms)) return std::unexpected(bad("entry", line).error());
        } else if (t.size() == 2 && t[0] == "exit") {
            if (!num(t[1], e.exit_code) || e.exit_code < 0 || e.exit_code > 255)
                return std::unexpected(bad("entry", line).error());
        } else if (t.size() == 2 && t[0] == "stdout") {
            if (!digest_opt(t[1], e.stdout_blob)) return std::unexpected(bad("entry", line).error());
        } else if (t.size() == 2 && t[0] == "stderr") {
            if (!digest_opt(t[1], e.stderr_blob)) return std::unexpected(bad("entry", line).error());
        } else if (t.size() == 6 && t[0] == "out") {
            OutputFile o;
            auto d = hash::Digest::from_hex(t[1]);
            auto name = unesc(t[5]);
            if (!d || !name || !num(t[2], o.mode, 8) || !num(t[3], o.size) || (t[4] != "file" && t[4] != "depinfo"))
                return std::unexpected(bad("entry", line).error());
            if (!valid_output_name(*name)) return fail(ErrorKind::corrupt, "entry: unsafe output name '" + *name + "'");
            if (o.mode > 07777 || o.size > k_max_output_size) return std::unexpected(bad("entry", line).error());
            o.mode &= 0777; // never restore setuid/setgid/sticky bits
            o.blob = *d;
            o.name = *name;
            o.dep_info = t[4] == "depinfo";
            if (e.outputs.size() >= k_max_outputs) return fail(ErrorKind::corrupt, "entry: too many outputs");
            for (auto& other : e.outputs)
                if (other.name == o.name) return fail(ErrorKind::corrupt, "entry: duplicate output " + o.name);
            e.outputs.push_back(std::move(o));
        } else {
            return std::unexpected(bad("entry", line).error());
        }
    }
    if (!ended || !have_k1 || !have_k2) return fail(ErrorKind::corrupt, "entry: truncated");
    if (e.exit_code != 0 && !e.outputs.empty()) return fail(ErrorKind::corrupt, "entry: a failed compile with outputs");
    return e;
}

std::string serialize_manifest(const Manifest& m) {
    std::string out = "kache-manifest 1\n";
    for (auto& s : m.sets) {
        out += "set " + std::to_string(s.created_ms) + "\n";
        for (auto& f : s.files) out += "f " + f.digest.hex() + " " + esc(f.path) + "\n";
        for (auto& [name, value] : s.env) {
            if (value) out += "v " + esc(name) + " " + esc(*value) + "\n";
            else out += "e " + esc(name) + "\n";
        }
        out += "end\n";
    }
    return out;
}

Result<Manifest> parse_manifest(std::string_view text) {
    Manifest m;
    Lines lines{text};
    std::string_view line;
    if (!lines.next(line) || line != "kache-manifest 1") return fail(ErrorKind::corrupt, "manifest: unknown format");
    std::optional<key::InputSet> cur;
    while (lines.next(line)) {
        auto t = tokens(line);
        if (t.empty()) return std::unexpected(bad("manifest", line).error());
        if (t[0] == "set" && t.size() == 2 && !cur) {
            cur.emplace();
            if (!num(t[1], cur->created_ms)) return std::unexpected(bad("manifest", line).error());
        } else if (t[0] == "end" && t.size() == 1 && cur) {
            if (m.sets.size() >= k_max_sets) return fail(ErrorKind::corrupt, "manifest: too many input sets");
            m.sets.push_back(std::move(*cur));
            cur.reset();
        } else if (t[0] == "f" && t.size() == 3 && cur) {
            auto d = hash::Digest::from_hex(t[1]);
            auto p = unesc(t[2]);
            if (!d || !p || !valid_input_path(*p)) return std::unexpected(bad("manifest", line).error());
            if (cur->files.size() >= k_max_files) return fail(ErrorKind::corrupt, "manifest: too many files");
            cur->files.push_back({*p, *d});
        } else if (t[0] == "v" && (t.size() == 3 || t.size() == 2) && cur) {
            auto n = unesc(t[1]);
            auto v = unesc(t.size() == 3 ? t[2] : "");
            if (!n || !v) return std::unexpected(bad("manifest", line).error());
            if (cur->env.size() >= k_max_env) return fail(ErrorKind::corrupt, "manifest: too many variables");
            cur->env.emplace_back(*n, *v);
        } else if (t[0] == "e" && t.size() == 2 && cur) {
            auto n = unesc(t[1]);
            if (!n) return std::unexpected(bad("manifest", line).error());
            if (cur->env.size() >= k_max_env) return fail(ErrorKind::corrupt, "manifest: too many variables");
            cur->env.emplace_back(*n, std::nullopt);
        } else {
            return std::unexpected(bad("manifest", line).error());
        }
    }
    if (cur) return fail(ErrorKind::corrupt, "manifest: truncated");
    return m;
}

} // namespace kache::store
