// The linker's command line as rustc prints it (`--print link-args`), read back
// into the files the link reads, so a binary is keyed by everything it links.
#include <kache/rustc.hpp>

#include <array>
#include <cctype>
#include <unordered_set>

namespace kache::rustc {

namespace {

// One command-line word; linker = it reaches the linker itself (-Wl, -Xlinker).
struct Item {
    std::string text;
    bool linker = false;
};

void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) out.push_back(static_cast<char>(cp));
    else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads one escape after a backslash inside quotes (Rust's Debug escapes:
// \" \\ \' \n \r \t \0 \xNN \u{X...}); i points at the escape letter.
Result<void> read_escape(std::string_view s, size_t& i, std::string& out) {
    auto bad = [] { return fail(ErrorKind::invalid_input, "link args: bad escape"); };
    if (i >= s.size()) return bad();
    char c = s[i++];
    switch (c) {
    case '"': case '\\': case '\'': out.push_back(c); return ok();
    case 'n': out.push_back('\n'); return ok();
    case 'r': out.push_back('\r'); return ok();
    case 't': out.push_back('\t'); return ok();
    case '0': out.push_back('\0'); return ok();
    case 'x': {
        if (i + 2 > s.size()) return bad();
        int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0) return bad();
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        return ok();
    }
    case 'u': {
        if (i >= s.size() || s[i] != '{') return bad();
        std::uint32_t cp = 0;
        size_t digits = 0;
        for (++i; i < s.size() && s[i] != '}'; ++i, ++digits) {
            int v = hex_value(s[i]);
            if (v < 0 || digits >= 6) return bad();
            cp = cp * 16 + static_cast<std::uint32_t>(v);
        }
        if (i >= s.size() || digits == 0 || cp > 0x10FFFF) return bad();
        ++i;
        append_utf8(out, cp);
        return ok();
    }
    default: return bad();
    }
}

// A word of the printed command, quotes removed. assignment: it began with an
// unquoted NAME= (an environment variable set for the linker).
struct Word {
    std::string text;
    bool assignment = false;
};

Result<std::vector<Word>> split_words(std::string_view s) {
    std::vector<Word> words;
    size_t i = 0;
    while (i < s.size()) {
        if (std::isspace(static_cast<unsigned char>(s[i]))) {
            ++i;
            continue;
        }
        Word w;
        bool name_run = true; // still inside a leading unquoted [A-Za-z0-9_]*
        while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) {
            char c = s[i];
            if (c == '"') {
                name_run = false;
                for (++i;; ) {
                    if (i >= s.size()) return fail(ErrorKind::invalid_input, "link args: unterminated quote");
                    if (s[i] == '"') {
                        ++i;
                        break;
                    }
                    if (s[i] == '\\') {
                        ++i;
                        if (auto e = read_escape(s, i, w.text); !e) return std::unexpected(e.error());
                    } else w.text.push_back(s[i++]);
                }
                continue;
            }
            if (name_run && c == '=' && !w.text.empty() && !std::isdigit(static_cast<unsigned char>(w.text[0])))
                w.assignment = true;
            if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) name_run = false;
            w.text.push_back(c);
            ++i;
        }
        words.push_back(std::move(w));
    }
    return words;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// Options of the compiler driver that take the next word as their value.
constexpr std::array<std::string_view, 14> k_driver_value_options = {
    "-x", "-u", "-e", "-z", "-B", "-target", "--target", "-arch", "-isysroot", "--sysroot",
    "-Xassembler", "-Xpreprocessor", "-include", "-MF"};

// Options of the linker that take the next word as their value (and name no input).
constexpr std::array<std::string_view, 30> k_linker_value_options = {
    "-z", "-soname", "-h", "-rpath", "-rpath-link", "-e", "--entry", "-u", "--undefined", "-Map", "-y",
    "--trace-symbol", "--wrap", "--defsym", "--exclude-libs", "-m", "-a", "-assert", "-b", "--format", "-f",
    "--auxiliary", "-F", "--filter", "-G", "-plugin", "-plugin-opt", "--section-start", "-Y", "--sysroot"};

// Linker options whose value is a file the linker reads.
constexpr std::array<std::string_view, 8> k_linker_file_options = {
    "--script", "--version-script", "--dynamic-list", "--default-script", "--just-symbols",
    "--retain-symbols-file", "--export-dynamic-symbol-list", "-dT"};

// -T prefixes that set a section address rather than name a script.
constexpr std::array<std::string_view, 6> k_section_address_options = {
    "-Ttext-segment", "-Trodata-segment", "-Tldata-segment", "-Ttext", "-Tdata", "-Tbss"};

template <size_t N>
bool one_of(std::string_view s, const std::array<std::string_view, N>& set) {
    for (auto o : set)
        if (s == o) return true;
    return false;
}

// Walks the items, collecting files, -L directories and -l requests.
class Reader {
public:
    explicit Reader(std::vector<Item> items) : items_(std::move(items)) {}

    void run() {
        while (i_ < items_.size()) {
            const Item& it = items_[i_++];
            if (it.linker) linker_arg(it.text);
            else driver_arg(it.text);
        }
    }

    LinkInputs resolve(const std::function<bool(const std::string&)>& is_file,
                       const std::vector<std::string>& library_path) {
        LinkInputs out;
        std::unordered_set<std::string> seen, missed;
        auto add = [&](const std::string& f) {
            if (seen.insert(f).second) out.files.push_back(f);
        };
        auto probe = [&](const std::string& p) {
            if (is_file(p)) return true;
            if (missed.insert(p).second) out.absent.push_back(p);
            return false;
        };
        for (auto& r : requests_) {
            if (!r.is_lib) {
                add(r.name);
                continue;
            }
            std::vector<std::string> names;
            if (r.name.starts_with(':')) names.push_back(r.name.substr(1));
            else {
                if (!r.static_only) names.push_back("lib" + r.name + ".so");
                names.push_back("lib" + r.name + ".a");
            }
            // The -L directories first, then LIBRARY_PATH's (the cc driver passes
            // those after the user's); a name found in neither is a system library.
            auto found = find_library(dirs_, names, probe);
            if (!found && !library_path.empty()) found = find_library(library_path, names, probe);
            if (found) add(*found);
            else out.unresolved.push_back(r.name);
        }
        return out;
    }

private:
    struct Request {
        std::string name;
        bool is_lib = false;
        bool static_only = false;
    };

    // The next item as an option's value ("" at the end).
    std::string next() { return i_ < items_.size() ? items_[i_++].text : std::string(); }

    void file(std::string f) {
        if (!f.empty()) requests_.push_back({std::move(f), false, false});
    }
    void lib(std::string n) {
        if (!n.empty()) requests_.push_back({std::move(n), true, static_});
    }
    void dir(std::string d) {
        if (!d.empty()) dirs_.push_back(std::move(d));
    }

    void driver_arg(const std::string& a) {
        if (a.empty()) return;
        if (a[0] == '@') return file(a.substr(1));
        if (a[0] != '-' || a == "-") return file(a);
        if (a == "-o") return void(next());
        if (a == "-L") return dir(next());
        if (a == "-l") return lib(next());
        if (a == "-T") return file(next());
        if (a == "-static") {
            static_ = true;
            return;
        }
        if (starts_with(a, "-L")) return dir(a.substr(2));
        if (starts_with(a, "-l")) return lib(a.substr(2));
        if (starts_with(a, "-T")) return file(a.substr(2));
        if (one_of(a, k_driver_value_options)) return void(next());
        // Everything else (-m64, -pie, -fuse-ld=, -B<dir>, -o<file>, ...) names no input.
    }

    void linker_arg(const std::string& a) {
        if (a.empty()) return;
        if (a[0] == '@') return file(a.substr(1));
        if (a[0] != '-') return file(a);
        if (a == "-Bstatic" || a == "-static" || a == "-dn" || a == "-non_shared") {
            static_ = true;
            return;
        }
        if (a == "-Bdynamic" || a == "-dy" || a == "-call_shared") {
            static_ = false;
            return;
        }
        if (a == "-o" || a == "--output") return void(next());
        if (a == "-L" || a == "--library-path") return dir(next());
        if (a == "-l" || a == "--library") return lib(next());
        if (a == "-T") return file(next());
        if (starts_with(a, "--library-path=")) return dir(a.substr(15));
        if (starts_with(a, "--library=")) return lib(a.substr(10));
        for (auto o : k_linker_file_options) {
            std::string eq = std::string(o) + "=";
            if (a == o) return file(next());
            if (starts_with(a, eq)) return file(a.substr(eq.size()));
        }
        // ld accepts long options with one dash too (-version-script=FILE).
        if (a.size() > 2 && a[1] != '-' && a.find('=') != std::string::npos) {
            std::string as_long = "-" + a;
            for (auto o : k_linker_file_options)
                if (starts_with(as_long, std::string(o) + "=")) return file(as_long.substr(o.size() + 1));
        }
        for (auto o : k_section_address_options)
            if (starts_with(a, o)) {
                if (a == o) next();
                return;
            }
        if (starts_with(a, "-L")) return dir(a.substr(2));
        if (starts_with(a, "-l")) return lib(a.substr(2));
        if (starts_with(a, "-T")) return file(a.substr(2));
        if (one_of(a, k_linker_value_options)) return void(next());
    }

    std::vector<Item> items_;
    size_t i_ = 0;
    bool static_ = false;
    std::vector<std::string> dirs_;
    std::vector<Request> requests_;
};

std::vector<std::string> split_on(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (size_t i = 0; i <= s.size(); ++i)
        if (i == s.size() || s[i] == sep) {
            out.emplace_back(s.substr(start, i - start));
            start = i + 1;
        }
    return out;
}

} // namespace

std::vector<std::string> library_path_dirs(std::string_view value) {
    std::vector<std::string> out;
    if (value.empty()) return out;
    for (auto& d : split_on(value, ':')) out.push_back(d.empty() ? std::string(".") : d);
    return out;
}

std::optional<std::string> find_library(const std::vector<std::string>& dirs, const std::vector<std::string>& names,
                                        const std::function<bool(const std::string&)>& is_file) {
    for (auto& d : dirs)
        for (auto& n : names) {
            std::string p = d.empty() ? n : (d.back() == '/' ? d + n : d + "/" + n);
            if (is_file(p)) return p;
        }
    return std::nullopt;
}

Result<LinkInputs> parse_link_args(std::string_view text, const std::function<bool(const std::string&)>& is_file,
                                   const std::vector<std::string>& library_path) {
    auto words = split_words(text);
    if (!words) return std::unexpected(words.error());
    size_t i = 0;
    // Leading environment assignments (and an `env [-i] [-u NAME]` prefix).
    while (i < words->size()) {
        const Word& w = (*words)[i];
        if (w.assignment || w.text == "env" || w.text == "-i") ++i;
        else if (w.text == "-u") i += 2;
        else break;
    }
    if (i < words->size() && (*words)[i].text == "cd")
        return fail(ErrorKind::invalid_input, "link args: the linker runs in another directory");
    if (i >= words->size()) return fail(ErrorKind::invalid_input, "link args: no linker command");
    ++i; // the linker program itself

    std::vector<Item> items;
    for (; i < words->size(); ++i) {
        const std::string& a = (*words)[i].text;
        if (starts_with(a, "-Wl,")) {
            for (auto& part : split_on(std::string_view(a).substr(4), ',')) items.push_back({part, true});
        } else if (a == "-Xlinker") {
            if (i + 1 < words->size()) items.push_back({(*words)[++i].text, true});
        } else items.push_back({a, false});
    }
    Reader reader(std::move(items));
    reader.run();
    return reader.resolve(is_file, library_path);
}

} // namespace kache::rustc
