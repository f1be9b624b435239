#include <kache/rustc.hpp>
#include <kache/util/fs.hpp>

#include <algorithm>
#include <map>

namespace kache::rustc {

namespace {

// Options that take a value, by every spelling cargo or a user may write.
// Maps the spelling to its canonical flag.
const std::map<std::string_view, std::string_view>& value_flags() {
    static const std::map<std::string_view, std::string_view> m = {
        {"--crate-name", "--crate-name"}, {"--crate-type", "--crate-type"}, {"--edition", "--edition"},
        {"--emit", "--emit"}, {"--out-dir", "--out-dir"}, {"-o", "-o"}, {"--target", "--target"},
        {"--cfg", "--cfg"}, {"--check-cfg", "--check-cfg"}, {"--cap-lints", "--cap-lints"},
        {"--error-format", "--error-format"}, {"--json", "--json"}, {"--color", "--color"},
        {"-C", "-C"}, {"--codegen", "-C"}, {"-L", "-L"}, {"-l", "-l"}, {"--extern", "--extern"},
        {"-A", "-A"}, {"--allow", "-A"}, {"-W", "-W"}, {"--warn", "-W"}, {"-D", "-D"}, {"--deny", "-D"},
        {"-F", "-F"}, {"--forbid", "-F"}, {"--force-warn", "--force-warn"}, {"-Z", "-Z"},
        {"--sysroot", "--sysroot"}, {"--remap-path-prefix", "--remap-path-prefix"},
        {"--remap-path-scope", "--remap-path-scope"}, {"--diagnostic-width", "--diagnostic-width"},
        {"--print", "--print"}, {"--explain", "--explain"}, {"--pretty", "--pretty"},
        {"--unpretty", "--unpretty"}, {"--extern-location", "--extern-location"},
        {"--env-set", "--env-set"}, {"--target-dir", "--target-dir"},
    };
    return m;
}

// Flags without a value that kache understands.
bool is_plain_flag(std::string_view a) {
    return a == "--test" || a == "-g" || a == "-O" || a == "--verbose" || a == "-v";
}

// Short flags that may be glued to their value ("-Cfoo=bar", "-Ldependency=x").
bool is_gluable_short(std::string_view f) {
    return f == "-C" || f == "-L" || f == "-l" || f == "-A" || f == "-W" || f == "-D" || f == "-F" ||
           f == "-Z" || f == "-o";
}

std::vector<std::string> split_comma(std::string_view s) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i <= s.size()) {
        size_t j = s.find(',', i);
        if (j == std::string_view::npos) j = s.size();
        if (j > i) out.emplace_back(s.substr(i, j - i));
        i = j + 1;
    }
    return out;
}

// Splits an @argfile's text: one argument per line, as rustc reads it.
std::vector<std::string> argfile_lines(const std::string& text) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < text.size()) {
        size_t j = text.find('\n', i);
        if (j == std::string::npos) j = text.size();
        std::string line = text.substr(i, j - i);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        out.push_back(line);
        i = j + 1;
    }
    return out;
}

void apply_codegen(Invocation& inv, const std::string& v) {
    auto eq = v.find('=');
    std::string key = codegen_option_name(v);
    std::string val = eq == std::string::npos ? "" : v.substr(eq + 1);
    if (is_incremental({"-C", v})) inv.incremental = true;
    else if (key == "extra-filename") inv.extra_filename = val;
    else if (key == "linker") inv.linker = val;
    else if (key == "link-arg") inv.link_args.push_back(val);
    else if (key == "link-args") {
        for (auto& part : util::split_list(val, ' ')) inv.link_args.push_back(part);
    } else if (key == "profile-use") inv.profile_use = val;
    else if (key == "profile-generate") inv.passthrough_reason = "-C profile-generate writes files at run time";
    else if (key == "save-temps") inv.passthrough_reason = "-C save-temps leaves extra outputs";
    else if (key == "split-debuginfo" && val != "off") inv.passthrough_reason = "-C split-debuginfo=" + val + " writes extra outputs";
}

void apply(Invocation& inv, const std::string& flag, const std::string& value) {
    if (flag == "--crate-name") inv.crate_name = value;
    else if (flag == "--crate-type") {
        for (auto& t : split_comma(value)) inv.crate_types.push_back(t);
    } else if (flag == "--emit") {
        for (auto& e : split_comma(value)) {
            if (e.find('=') != std::string::npos) inv.passthrough_reason = "--emit with an explicit path";
            else inv.emit.insert(e);
        }
    } else if (flag == "--out-dir") inv.out_dir = value;
    else if (flag == "-o") inv.out_file = value;
    else if (flag == "--target") inv.target = value;
    else if (flag == "--sysroot") {
        // The toolchain identity covers rustc's own sysroot only: a custom one
        // (rebuilt in place, xargo-style) would serve outputs built on an old std.
        inv.sysroot = value;
        inv.passthrough_reason = "--sysroot (a custom sysroot is not keyed)";
    }
    else if (flag == "-C") apply_codegen(inv, value);
    else if (flag == "-L") {
        auto eq = value.find('=');
        SearchPath sp;
        if (eq != std::string::npos && value.find('/') > eq) {
            sp.kind = value.substr(0, eq);
            sp.path = value.substr(eq + 1);
        } else sp.path = value;
        inv.search_paths.push_back(sp);
    } else if (flag == "-l") {
        NativeLib lib;
        std::string rest = value;
        auto eq = rest.find('=');
        if (eq != std::string::npos) {
            std::string kind = rest.substr(0, eq);
            rest = rest.substr(eq + 1);
            auto colon = kind.find(':');
            if (colon != std::string::npos) {
                lib.modifiers = kind.substr(colon + 1);
                kind = kind.substr(0, colon);
            }
            lib.kind = kind;
        }
        auto colon = rest.find(':');
        lib.name = colon == std::string::npos ? rest : rest.substr(0, colon);
        inv.libs.push_back(lib);
    } else if (flag == "--extern") {
        Extern e;
        auto eq = value.find('=');
        std::string name = value.substr(0, eq);
        // `--extern priv:name=path`, `noprelude:`, `nounused:` options.
        if (auto colon = name.rfind(':'); colon != std::string::npos) name = name.substr(colon + 1);
        e.name = name;
        if (eq != std::string::npos) e.path = value.substr(eq + 1);
        inv.externs.push_back(e);
    } else if (flag == "--print") inv.passthrough_reason = "--print";
    else if (flag == "--explain") inv.passthrough_reason = "--explain";
    else if (flag == "--pretty" || flag == "--unpretty") inv.passthrough_reason = flag;
    else if (flag == "-Z") {
        if (value.rfind("unpretty", 0) == 0) inv.passthrough_reason = "-Z unpretty";
        else if (value.rfind("remap-cwd-prefix", 0) == 0) inv.user_remap_prefix = true;
        else if (value.rfind("remap-path-scope", 0) == 0) inv.user_remap_scope = true;
        else if (value.rfind("self-profile", 0) == 0 || value.rfind("dump-", 0) == 0 ||
                 value.rfind("time-passes", 0) == 0 || value.rfind("ls", 0) == 0)
            inv.passthrough_reason = "-Z " + value + " has side outputs";
    } else if (flag == "--remap-path-scope") inv.user_remap_scope = true;
    // rustc lets the last matching prefix win: the user's would override kache's and
    // leave a checkout-derived path in the outputs that no scan can recognise.
    else if (flag == "--remap-path-prefix") inv.user_remap_prefix = true;
    else if (flag == "--target-dir") inv.passthrough_reason = "--target-dir";
}

} // namespace

bool takes_value(std::string_view flag) {
    // Every canonical spelling is also a key of the table.
    return value_flags().contains(flag);
}

std::string codegen_option_name(std::string_view value) {
    std::string name(value.substr(0, value.find('=')));
    std::replace(name.begin(), name.end(), '_', '-');
    return name;
}

bool is_incremental(const Arg& arg) { return arg.flag == "-C" && codegen_option_name(arg.value) == "incremental"; }

bool Invocation::json_errors() const {
    for (auto& a : args)
        if (a.flag == "--error-format" && a.value.starts_with("json")) return true;
    return false;
}

std::vector<std::string> Invocation::command_line() const {
    std::vector<std::string> out;
    out.reserve(args.size() * 2);
    for (auto& a : args) {
        if (a.flag.empty()) {
            out.push_back(a.value);
            continue;
        }
        out.push_back(a.flag);
        if (takes_value(a.flag)) out.push_back(a.value);
    }
    return out;
}

bool Invocation::links() const {
    if (crate_types.empty()) return true; // bin
    for (auto& t : crate_types)
        if (t == "bin" || t == "dylib" || t == "cdylib" || t == "proc-macro" || t == "staticlib") return true;
    return false;
}

std::string Invocation::dep_info_name() const {
    if (!emit.contains("dep-info")) return "";
    return crate_name + extra_filename + ".d";
}

std::vector<std::string> Invocation::expected_outputs() const {
    std::vector<std::string> out;
    const std::string stem = crate_name + extra_filename;
    auto types = crate_types.empty() ? std::vector<std::string>{"bin"} : crate_types;
    if (emit.contains("link")) {
        for (auto& t : types) {
            if (t == "lib" || t == "rlib") out.push_back("lib" + stem + ".rlib");
            else if (t == "bin") out.push_back(stem);
            else if (t == "dylib" || t == "cdylib" || t == "proc-macro") out.push_back("lib" + stem + ".so");
            else if (t == "staticlib") out.push_back("lib" + stem + ".a");
        }
    }
    if (emit.contains("metadata")) {
        // rustc writes an .rmeta only for crate types that have metadata; with
        // only a bin or cdylib it writes one too when metadata is asked for
        // (cargo check of a bin), so expect it whenever it is requested.
        out.push_back("lib" + stem + ".rmeta");
    }
    if (emit.contains("dep-info")) out.push_back(stem + ".d");
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

Result<Invocation> parse(const std::vector<std::string>& input, const std::filesystem::path& cwd) {
    Invocation inv;
    // Expand @argfiles first (one level, as rustc does).
    std::vector<std::string> args;
    args.reserve(input.size());
    for (auto& a : input) {
        if (a.size() > 1 && a[0] == '@') {
            std::filesystem::path p = a.substr(1);
            if (p.is_relative()) p = cwd / p;
            auto text = util::read_file_bounded(p, 16 << 20);
            if (!text) return std::unexpected(text.error());
            inv.argfiles.push_back(p.string());
            for (auto& line : argfile_lines(*text)) args.push_back(line);
        } else {
            args.push_back(a);
        }
    }

    const auto& vf = value_flags();
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() > 1 && a[0] == '-') {
            std::string flag, value;
            bool found = false;
            if (auto it = vf.find(a); it != vf.end()) {
                if (i + 1 >= args.size()) {
                    inv.passthrough_reason = "option " + a + " without a value";
                    continue;
                }
                flag = std::string(it->second);
                value = args[++i];
                found = true;
            } else if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
                auto eq = a.find('=');
                if (auto it2 = vf.find(std::string_view(a).substr(0, eq)); it2 != vf.end()) {
                    flag = std::string(it2->second);
                    value = a.substr(eq + 1);
                    found = true;
                }
            } else if (a.size() > 2 && a[1] != '-' && is_gluable_short(a.substr(0, 2))) {
                flag = a.substr(0, 2);
                value = a.substr(2);
                found = true;
            }
            if (found) {
                apply(inv, flag, value);
                inv.args.push_back({flag, value});
            } else if (is_plain_flag(a)) {
                if (a == "--test") inv.test = true;
                inv.args.push_back({a, ""});
            } else if (a == "-V" || a == "--version" || a == "-vV" || a == "-h" || a == "--help") {
                inv.passthrough_reason = a;
                inv.args.push_back({a, ""});
            } else {
                inv.passthrough_reason = "unknown option " + a;
                inv.args.push_back({a, ""});
            }
        } else {
            if (!inv.source.empty()) inv.passthrough_reason = "more than one input file";
            inv.source = a;
            inv.args.push_back({"", a});
        }
    }

    if (inv.passthrough_reason) return inv;
    if (inv.crate_name.empty()) inv.passthrough_reason = "no --crate-name";
    else if (inv.source.empty()) inv.passthrough_reason = "no input file";
    else if (inv.source == "-") inv.passthrough_reason = "input from stdin";
    else if (inv.out_dir.empty()) inv.passthrough_reason = "no --out-dir";
    else if (!inv.out_file.empty()) inv.passthrough_reason = "-o";
    else {
        static const std::set<std::string> restorable = {"dep-info", "metadata", "link"};
        for (auto& e : inv.emit)
            if (!restorable.contains(e)) inv.passthrough_reason = "--emit=" + e;
        static const std::set<std::string> known_types = {"bin", "lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro"};
        for (auto& t : inv.crate_types)
            if (!known_types.contains(t)) inv.passthrough_reason = "--crate-type " + t;
    }
    return inv;
}

} // namespace kache::rustc
