#include <kache/key.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>

namespace kache::key {

namespace fs = std::filesystem;

namespace {

std::string stamp_text(const fs::path& p) {
    auto st = util::stamp(p);
    if (!st) return "-";
    return std::to_string(st->size) + " " + std::to_string(st->mtime_ns) + " " + std::to_string(st->inode);
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
    return s;
}

// What identifies this machine's CPU: the host name and, on Linux, the first
// processor's description and flags (clock speeds left out: they vary).
std::string host_fingerprint() {
    std::string out;
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) == 0) out += std::string("host ") + name + "\n";
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line) && !line.empty()) {
        auto field = line.substr(0, line.find(':'));
        while (!field.empty() && (field.back() == ' ' || field.back() == '\t')) field.pop_back();
        if (field == "vendor_id" || field == "cpu family" || field == "model" || field == "model name" ||
            field == "stepping" || field == "flags" || field == "Features" || field == "CPU implementer" ||
            field == "CPU part")
            out += line + "\n";
    }
    return out;
}

std::vector<std::string> resolve(const std::vector<std::string>& prefix) {
    std::vector<std::string> resolved;
    for (auto& p : prefix) resolved.push_back(util::which(p));
    return resolved;
}

// A record is a few hundred bytes; anything larger is not ours.
inline constexpr std::uint64_t k_record_max = 64 * 1024;
inline constexpr std::string_view k_record_magic = "kache-toolchain 2";
inline constexpr std::string_view k_driver_prefix = "librustc_driver-";

// What the last run of a compiler said about it, and what must still hold for
// the answer to stand. Record lines: the magic, "bin <stamp>" per binary,
// "driver <stamp> <path>" per driver library, "per-session 0|1" (the value
// holds only in the build session named by "session <text>"), "value <text>".
struct Record {
    std::vector<std::string> bins;
    std::vector<std::pair<std::string, std::string>> drivers; // stamp, path
    bool per_session = false;
    std::string session;
    std::string value;

    std::string text() const {
        std::string out = std::string(k_record_magic) + "\n";
        for (auto& b : bins) out += "bin " + b + "\n";
        for (auto& [st, path] : drivers) out += "driver " + st + " " + path + "\n";
        out += std::string("per-session ") + (per_session ? "1" : "0") + "\n";
        out += "session " + session + "\n";
        out += "value " + value + "\n";
        return out;
    }
};

// Stamps are "<size> <mtime_ns> <inode>" or "-": three fields or one.
std::optional<std::pair<std::string, std::string>> split_driver(const std::string& rest) {
    size_t at = 0;
    int fields = rest.rfind("- ", 0) == 0 ? 1 : 3;
    for (int i = 0; i < fields; ++i) {
        at = rest.find(' ', at);
        if (at == std::string::npos) return std::nullopt;
        ++at;
    }
    std::string path = rest.substr(at);
    if (path.empty() || path[0] != '/') return std::nullopt;
    return std::pair{rest.substr(0, at - 1), path};
}

// The record file is untrusted: anything malformed is no record.
// Splits off the next line as std::getline would (the last one may lack its
// newline); a string stream here would cost the hit path a locale set-up.
bool next_line(std::string_view& text, std::string& line) {
    if (text.empty()) return false;
    auto nl = text.find('\n');
    line.assign(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    return true;
}

std::optional<Record> parse_record(const std::string& text) {
    std::string_view in(text);
    std::string line;
    if (!next_line(in, line) || line != k_record_magic) return std::nullopt;
    Record r;
    bool have_flag = false, have_value = false;
    while (next_line(in, line)) {
        auto sp = line.find(' ');
        if (sp == std::string::npos) return std::nullopt;
        std::string tag = line.substr(0, sp), rest = line.substr(sp + 1);
        if (tag == "bin") r.bins.push_back(rest);
        else if (tag == "driver") {
            auto d = split_driver(rest);
            if (!d) return std::nullopt;
            r.drivers.push_back(*d);
        } else if (tag == "per-session") {
            if (rest != "0" && rest != "1") return std::nullopt;
            r.per_session = rest == "1";
            have_flag = true;
        } else if (tag == "session") r.session = rest;
        else if (tag == "value") {
            r.value = rest;
            have_value = !rest.empty();
        } else return std::nullopt;
    }
    if (!have_flag || !have_value || r.drivers.empty()) return std::nullopt;
    return r;
}

std::vector<std::string> stamps_of(const std::vector<std::string>& resolved) {
    std::vector<std::string> stamps;
    for (auto& r : resolved) stamps.push_back(stamp_text(r));
    return stamps;
}

// The cached value, if the record still describes the compiler that runs now.
// The hit path: one read, one stat per binary and per driver library, and for
// a shim or proxy one read of /proc/<ppid>/stat. No process is spawned.
std::optional<std::string> read_record(const fs::path& file, const std::vector<std::string>& stamps) {
    auto text = util::read_file_bounded(file, k_record_max);
    if (!text) return std::nullopt;
    auto r = parse_record(*text);
    if (!r || r->bins != stamps) return std::nullopt;
    for (auto& [st, path] : r->drivers)
        if (st == "-" || stamp_text(path) != st) return std::nullopt;
    if (r->per_session) {
        auto session = current_build_session();
        if (!session || !session->same_as(r->session)) return std::nullopt;
    }
    return r->value;
}

// Best effort: a record that cannot be written only means the next call asks again.
void write_record(const fs::path& file, const fs::path& tmp_dir, const Record& r) {
    std::string text = r.text();
    (void)util::make_parent_and_retry(file, [&] { return util::write_file_atomic(file, text, tmp_dir); });
}

// The driver libraries of a sysroot (one in a rustup toolchain). A toolchain
// without one (a statically linked rustc) is represented by its bin/rustc.
std::vector<fs::path> driver_libraries(const fs::path& sysroot) {
    std::vector<fs::path> found;
    std::error_code ec;
    for (fs::directory_iterator it(sysroot / "lib", ec), end; !ec && it != end; it.increment(ec)) {
        std::string name = it->path().filename().string();
        bool lib = name.ends_with(".so") || name.ends_with(".dylib");
        if (name.starts_with(k_driver_prefix) && lib && it->is_regular_file(ec)) found.push_back(it->path());
    }
    std::sort(found.begin(), found.end());
    if (found.empty()) found.push_back(sysroot / "bin/rustc");
    return found;
}

// True when every binary of the prefix is the toolchain's own, in
// <sysroot>/bin: it loads the driver beside it (RUNPATH $ORIGIN/../lib), so
// the driver's stamp alone says whether it still runs the same compiler.
bool is_direct(const std::vector<std::string>& resolved, const fs::path& sysroot) {
    std::error_code ec;
    fs::path bin = fs::canonical(sysroot / "bin", ec);
    if (ec) return false;
    for (auto& r : resolved) {
        fs::path real = fs::canonical(r, ec);
        if (ec || real.parent_path() != bin) return false;
    }
    return true;
}

// What a run of the compiler says about the toolchain behind the prefix.
struct Probe {
    std::string version;  // -vV (and clippy's -V)
    fs::path sysroot;
    std::vector<fs::path> drivers;
    bool direct = false;
};

Result<Probe> probe(const std::vector<std::string>& resolved) {
    auto cmd = [&](std::vector<std::string> extra) {
        std::vector<std::string> argv = resolved;
        argv.insert(argv.end(), extra.begin(), extra.end());
        return util::run_capture(argv);
    };
    auto version = cmd({"-vV"});
    if (!version || version->exit_code != 0)
        return fail(ErrorKind::unsupported, "cannot get the compiler version from " + resolved[0] + " -vV");
    auto sysroot = cmd({"--print", "sysroot"});
    if (!sysroot || sysroot->exit_code != 0)
        return fail(ErrorKind::unsupported, "cannot get the sysroot from " + resolved[0] + " --print sysroot");
    Probe p;
    p.version = version->out;
    if (fs::path(resolved[0]).filename().string().find("clippy-driver") != std::string::npos) {
        auto clippy = util::run_capture({resolved[0], "-V"});
        if (!clippy || clippy->exit_code != 0) return fail(ErrorKind::unsupported, "cannot run " + resolved[0] + " -V");
        p.version += "clippy: " + clippy->out;
    }
    p.sysroot = trim(sysroot->out);
    if (p.sysroot.empty() || !p.sysroot.is_absolute() || p.sysroot.string().find('\n') != std::string::npos)
        return fail(ErrorKind::unsupported, resolved[0] + " --print sysroot gave no usable path");
    p.drivers = driver_libraries(p.sysroot);
    p.direct = is_direct(resolved, p.sysroot);
    return p;
}

// A record of value for the toolchain just probed, with the stamps that keep it valid.
// per_session: the value holds only in this build session.
Record record_for(const Probe& p, const std::vector<std::string>& stamps, std::string value, bool per_session) {
    Record r;
    r.bins = stamps;
    for (auto& d : p.drivers) r.drivers.emplace_back(stamp_text(d), d.string());
    r.per_session = per_session;
    if (per_session)
        if (auto session = current_build_session()) r.session = session->text();
    r.value = std::move(value);
    return r;
}

// The selector names the record file: the same proxy path runs different
// toolchains under rustup.
fs::path record_file(const fs::path& cache_dir, const std::string& prefix_tag, std::string selector,
                     const std::vector<std::string>& resolved) {
    for (auto& r : resolved) selector += r + "\n";
    selector += util::env("RUSTUP_TOOLCHAIN").value_or("") + "\n" + util::env("RUSTUP_HOME").value_or("");
    return cache_dir / (prefix_tag + hash::of(selector).hex());
}

} // namespace

Result<std::string> toolchain_identity(const std::vector<std::string>& prefix, const fs::path& cache_dir,
                                       const fs::path& tmp_dir) {
    if (prefix.empty()) return fail(ErrorKind::internal, "no compiler");
    std::vector<std::string> resolved = resolve(prefix);
    fs::path cache_file = record_file(cache_dir, "", "", resolved);
    std::vector<std::string> stamps = stamps_of(resolved);
    if (auto identity = read_record(cache_file, stamps)) return *identity;

    auto p = probe(resolved);
    if (!p) return std::unexpected(p.error());
    // The driver's file name carries a hash of its build; with its size it tells
    // apart two toolchains whose -vV agree (a local build of the same commit).
    std::string text = p->version;
    for (auto& d : p->drivers) {
        auto st = util::stamp(d);
        text += "driver " + d.filename().string() + " " + (st ? std::to_string(st->size) : "-") + "\n";
    }
    std::string identity = hash::of(text).hex();
    // A shim or proxy may run another toolchain from the same path next time.
    write_record(cache_file, tmp_dir, record_for(*p, stamps, identity, !p->direct));
    return identity;
}

Result<std::string> native_cpu(const std::vector<std::string>& prefix, const std::string& target,
                               const fs::path& cache_dir, const fs::path& tmp_dir) {
    if (prefix.empty()) return fail(ErrorKind::internal, "no compiler");
    // The answer depends on the toolchain's LLVM: keyed by the identity of the
    // toolchain that runs now (usually read from its record, no spawn).
    auto identity = toolchain_identity(prefix, cache_dir, tmp_dir);
    if (!identity) return std::unexpected(identity.error());
    std::vector<std::string> resolved = resolve(prefix);
    fs::path cache_file =
        record_file(cache_dir, "native-", "native-cpu\n" + target + "\n" + host_fingerprint() + *identity + "\n", resolved);
    std::vector<std::string> stamps = stamps_of(resolved);
    if (auto cpu = read_record(cache_file, stamps)) return *cpu;

    auto cmd = [&](std::vector<std::string> extra) {
        std::vector<std::string> argv = resolved;
        argv.insert(argv.end(), extra.begin(), extra.end());
        if (!target.empty()) {
            argv.push_back("--target");
            argv.push_back(target);
        }
        return util::run_capture(argv);
    };
    auto sysroot = cmd({"--print", "sysroot"});
    auto cpus = cmd({"--print", "target-cpus"});
    auto cfg = cmd({"-C", "target-cpu=native", "--print", "cfg"});
    if (!sysroot || sysroot->exit_code != 0 || !cpus || cpus->exit_code != 0 || !cfg || cfg->exit_code != 0)
        return fail(ErrorKind::unsupported, "cannot ask " + resolved[0] + " what -C target-cpu=native means here");

    // "    native   - Select the CPU of the current host (currently znver4)."
    std::string name;
    std::istringstream cpu_lines(cpus->out);
    std::string line;
    while (std::getline(cpu_lines, line)) {
        auto at = line.find("(currently ");
        if (line.find("native") == std::string::npos || at == std::string::npos) continue;
        auto end = line.find(')', at);
        name = line.substr(at + 11, end == std::string::npos ? std::string::npos : end - at - 11);
        break;
    }
    std::string features;
    std::istringstream cfg_lines(cfg->out);
    while (std::getline(cfg_lines, line)) {
        line = trim(line);
        if (line.rfind("target_feature=\"", 0) != 0) continue;
        features += (features.empty() ? "" : ",") + line.substr(16, line.size() - 17);
    }
    if (name.empty() && features.empty())
        return fail(ErrorKind::unsupported, resolved[0] + " does not say what -C target-cpu=native means here");
    std::string cpu = (name.empty() ? "?" : name) + " features " + features;

    // Not per session: the identity in the selector names the toolchain.
    Probe p;
    p.sysroot = trim(sysroot->out);
    p.drivers = driver_libraries(p.sysroot);
    write_record(cache_file, tmp_dir, record_for(p, stamps, cpu, false));
    return cpu;
}

std::string linker_identity(const rustc::Invocation& inv) {
    std::string linker = inv.linker.empty() ? "cc" : inv.linker;
    std::string path = util::which(linker);
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    if (ec) return "linker " + linker;
    return "linker " + real.string() + " " + stamp_text(real);
}

} // namespace kache::key
