// The why-miss data in the store: its text form (one record per file, every field
// percent-escaped so no value can forge a line), where it lives, and its pruning.
#include <kache/util/fs.hpp>
#include <kache/why.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>

namespace kache::why {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view k_header = "kache-why 1";
// Lines a record may hold (a big crate lists a few thousand inputs).
constexpr std::size_t k_max_lines = 200000;

std::string escape(std::string_view s) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c <= 0x20 || c == '%' || c == 0x7f) {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::optional<std::string> unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    while (pos <= line.size()) {
        auto sp = line.find(' ', pos);
        if (sp == std::string_view::npos) sp = line.size();
        out.push_back(line.substr(pos, sp - pos));
        pos = sp + 1;
    }
    return out;
}

std::optional<std::int64_t> number(std::string_view s) {
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size() || v < 0) return std::nullopt;
    return v;
}

Error corrupt(std::string_view what) { return Error{ErrorKind::corrupt, "why record: " + std::string(what)}; }

fs::path why_dir(const store::Store& s) { return s.root() / "why"; }

std::string canonical_crate(std::string_view name) {
    std::string out(name);
    std::replace(out.begin(), out.end(), '-', '_');
    return out;
}

std::optional<Record> read_record(const fs::path& p) {
    auto text = util::read_file_bounded(p, k_max_record_bytes);
    if (!text) return std::nullopt;
    auto r = parse(*text);
    if (!r) return std::nullopt;
    return std::move(*r);
}

// The unit directories or files under dir whose unit belongs to crate.
bool unit_matches(const std::string& file_name, std::string_view crate) {
    auto first = file_name.find('.');
    auto second = first == std::string::npos ? std::string::npos : file_name.find('.', first + 1);
    if (second == std::string::npos) return false;
    std::string want = canonical_crate(crate);
    return canonical_crate(file_name.substr(0, first)) == want ||
           canonical_crate(file_name.substr(first + 1, second - first - 1)) == want;
}

Result<void> write_private(const store::Store& s, const fs::path& p, std::string_view text) {
    return util::make_parent_and_retry(p, [&] { return util::write_file_atomic(p, text, s.tmp_dir()); });
}

} // namespace

std::string Unit::id() const { return package + "." + crate + "." + kind; }

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > k_max_name_chars) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '+';
    });
}

std::string serialize(const Record& r) {
    std::string out(k_header);
    out += "\nunit " + escape(r.unit.package) + " " + escape(r.unit.crate) + " " + escape(r.unit.kind) + "\n";
    out += "k1 " + r.k1.hex() + "\n";
    if (r.k2) out += "k2 " + r.k2->hex() + "\n";
    out += "time " + std::to_string(r.time_ms) + "\n";
    for (auto& root : r.roots) out += "root " + escape(root.name) + " " + escape(root.path) + "\n";
    for (auto& w : r.rustflags) out += "rustflag " + escape(w) + "\n";
    for (auto& c : r.components) out += "component " + escape(c.name) + " " + escape(c.value) + "\n";
    if (r.inputs) {
        out += "inputs " + std::to_string(r.inputs->created_ms) + "\n";
        for (auto& f : r.inputs->files) out += "file " + f.digest.hex() + " " + escape(f.path) + "\n";
        for (auto& [name, value] : r.inputs->env)
            out += "env " + escape(name) + " " + (value ? "=" + escape(*value) : std::string("-")) + "\n";
    }
    if (!r.note.empty()) out += "note " + escape(r.note) + "\n";
    out += "end\n";
    return out;
}

Result<Record> parse(std::string_view text) {
    if (text.size() > k_max_record_bytes) return std::unexpected(corrupt("too large"));
    Record r;
    bool have_unit = false, have_k1 = false, ended = false, first = true;
    std::size_t lines = 0, pos = 0;
    while (pos < text.size()) {
        auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) return std::unexpected(corrupt("unterminated line"));
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (++lines > k_max_lines) return std::unexpected(corrupt("too many lines"));
        if (ended) return std::unexpected(corrupt("text after the end"));
        if (first) {
            if (line != k_header) return std::unexpected(corrupt("unknown format"));
            first = false;
            continue;
        }
        auto w = words(line);
        const std::string_view tag = w[0];
        auto arg = [&](std::size_t i) { return unescape(w[i]); };
        if (tag == "end" && w.size() == 1) {
            ended = true;
        } else if (tag == "unit" && w.size() == 4) {
            auto p = arg(1), c = arg(2), k = arg(3);
            if (!p || !c || !k || !valid_name(*p) || !valid_name(*c) || !valid_name(*k))
                return std::unexpected(corrupt("bad unit"));
            r.unit = {*p, *c, *k};
            have_unit = true;
        } else if ((tag == "k1" || tag == "k2") && w.size() == 2) {
            auto d = hash::Digest::from_hex(w[1]);
            if (!d) return std::unexpected(corrupt("bad key"));
            if (tag == "k1") r.k1 = *d, have_k1 = true;
            else r.k2 = *d;
        } else if (tag == "time" && w.size() == 2) {
            auto t = number(w[1]);
            if (!t) return std::unexpected(corrupt("bad time"));
            r.time_ms = *t;
        } else if (tag == "root" && w.size() == 3) {
            auto n = arg(1), p = arg(2);
            if (!n || !p) return std::unexpected(corrupt("bad root"));
            r.roots.push_back({*n, *p});
        } else if (tag == "rustflag" && w.size() == 2) {
            auto v = arg(1);
            if (!v) return std::unexpected(corrupt("bad flag"));
            r.rustflags.push_back(*v);
        } else if (tag == "component" && w.size() == 3) {
            auto n = arg(1), v = arg(2);
            if (!n || !v) return std::unexpected(corrupt("bad component"));
            r.components.push_back({*n, *v});
        } else if (tag == "inputs" && w.size() == 2 && !r.inputs) {
            auto t = number(w[1]);
            if (!t) return std::unexpected(corrupt("bad inputs"));
            r.inputs.emplace();
            r.inputs->created_ms = *t;
        } else if (tag == "file" && w.size() == 3 && r.inputs) {
            auto d = hash::Digest::from_hex(w[1]);
            auto p = arg(2);
            if (!d || !p) return std::unexpected(corrupt("bad file"));
            r.inputs->files.push_back({*p, *d});
        } else if (tag == "env" && w.size() == 3 && r.inputs) {
            auto n = arg(1);
            if (!n) return std::unexpected(corrupt("bad variable"));
            if (w[2] == "-") {
                r.inputs->env.emplace_back(*n, std::nullopt);
            } else {
                if (w[2].empty() || w[2][0] != '=') return std::unexpected(corrupt("bad variable"));
                auto v = unescape(w[2].substr(1));
                if (!v) return std::unexpected(corrupt("bad variable"));
                r.inputs->env.emplace_back(*n, *v);
            }
        } else if (tag == "note" && w.size() == 2) {
            auto v = arg(1);
            if (!v) return std::unexpected(corrupt("bad note"));
            r.note = *v;
        } else {
            return std::unexpected(corrupt("unexpected line"));
        }
    }
    if (!ended || !have_unit || !have_k1) return std::unexpected(corrupt("incomplete"));
    return r;
}

fs::path miss_path(const store::Store& s, const Unit& u) { return why_dir(s) / "miss" / u.id(); }

fs::path recorded_path(const store::Store& s, const Unit& u, const hash::Digest& k1) {
    return why_dir(s) / "recorded" / u.id() / k1.hex();
}

Result<void> write_miss(const store::Store& s, const Record& r) {
    if (!valid_name(r.unit.package) || !valid_name(r.unit.crate) || !valid_name(r.unit.kind))
        return fail(ErrorKind::invalid_input, "unit name not usable as a file name");
    std::string text = serialize(r);
    if (text.size() > k_max_record_bytes) return fail(ErrorKind::invalid_input, "too large to keep");
    return write_private(s, miss_path(s, r.unit), text);
}

Result<void> write_recorded(const store::Store& s, const Record& r) {
    if (!valid_name(r.unit.package) || !valid_name(r.unit.crate) || !valid_name(r.unit.kind))
        return fail(ErrorKind::invalid_input, "unit name not usable as a file name");
    fs::path p = recorded_path(s, r.unit, r.k1);
    if (::access(p.c_str(), F_OK) == 0) return ok(); // the same key has the same components
    Record kept = r;
    kept.roots.clear(); // only what the key holds: paths are in sentinel form already
    kept.inputs.reset();
    kept.k2.reset();
    kept.note.clear();
    std::string text = serialize(kept);
    if (text.size() > k_max_record_bytes) return fail(ErrorKind::invalid_input, "too large to keep");
    return write_private(s, p, text);
}

std::vector<Record> latest_misses(const store::Store& s, std::string_view crate) {
    std::vector<Record> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(why_dir(s) / "miss", ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        if (!unit_matches(it->path().filename().string(), crate)) continue;
        if (auto r = read_record(it->path()); r && r->unit.id() == it->path().filename().string())
            out.push_back(std::move(*r));
    }
    std::sort(out.begin(), out.end(), [](const Record& a, const Record& b) { return a.time_ms > b.time_ms; });
    return out;
}

std::vector<Record> recorded(const store::Store& s, const Unit& u) {
    std::vector<Record> out;
    if (!valid_name(u.package) || !valid_name(u.crate) || !valid_name(u.kind)) return out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(why_dir(s) / "recorded" / u.id(), ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        auto k1 = hash::Digest::from_hex(it->path().filename().string());
        if (!k1) continue;
        if (auto r = read_record(it->path()); r && r->unit == u && r->k1 == *k1) out.push_back(std::move(*r));
    }
    return out;
}

bool known_crate(const store::Store& s, std::string_view crate) {
    for (const char* sub : {"miss", "recorded"}) {
        std::error_code ec;
        for (auto it = fs::directory_iterator(why_dir(s) / sub, ec); !ec && it != fs::directory_iterator();
             it.increment(ec))
            if (unit_matches(it->path().filename().string(), crate)) return true;
    }
    for (auto& e : s.list_entries())
        if (canonical_crate(e.crate) == canonical_crate(crate)) return true;
    return false;
}

void prune(const store::Store& s) {
    std::error_code ec;
    for (auto unit = fs::directory_iterator(why_dir(s) / "recorded", ec); !ec && unit != fs::directory_iterator();
         unit.increment(ec)) {
        struct Kept {
            std::int64_t mtime;
            fs::path path;
        };
        std::vector<Kept> kept;
        std::error_code ec2;
        for (auto f = fs::directory_iterator(unit->path(), ec2); !ec2 && f != fs::directory_iterator();
             f.increment(ec2)) {
            auto k1 = hash::Digest::from_hex(f->path().filename().string());
            struct stat st {};
            if (!k1 || ::stat(s.manifest_path(*k1).c_str(), &st) != 0 || ::lstat(f->path().c_str(), &st) != 0) {
                ::unlink(f->path().c_str());
                continue;
            }
            kept.push_back({static_cast<std::int64_t>(st.st_mtim.tv_sec), f->path()});
        }
        if (kept.size() > k_max_recorded_per_unit) {
            std::sort(kept.begin(), kept.end(), [](const Kept& a, const Kept& b) { return a.mtime > b.mtime; });
            for (std::size_t i = k_max_recorded_per_unit; i < kept.size(); ++i) ::unlink(kept[i].path.c_str());
        }
        if (kept.empty()) ::rmdir(unit->path().c_str());
    }
}

} // namespace kache::why
