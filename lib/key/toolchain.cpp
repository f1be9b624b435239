#include <kache/key.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <unistd.h>

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

// A cached answer about a compiler, valid while the compiler binaries and the
// sysroot's rustc keep their stamps. Record lines: one stamp per binary,
// "sysroot <path>", "sysroot-stamp <stamp>", "<tag> <value>".
std::string stamps_of(const std::vector<std::string>& resolved) {
    std::string stamps;
    for (auto& r : resolved) stamps += stamp_text(r) + "\n";
    return stamps;
}

std::optional<std::string> read_stamped(const fs::path& cache_file, const std::vector<std::string>& resolved,
                                        const std::string& stamps, const std::string& tag) {
    auto cached = util::read_file_bounded(cache_file, 64 * 1024);
    if (!cached) return std::nullopt;
    std::istringstream in(*cached);
    std::string line, got_stamps, sysroot, sysroot_stamp, value;
    for (size_t i = 0; i < resolved.size() && std::getline(in, line); ++i) got_stamps += line + "\n";
    const std::string prefix = tag + " ";
    while (std::getline(in, line)) {
        if (line.rfind("sysroot ", 0) == 0) sysroot = line.substr(8);
        else if (line.rfind("sysroot-stamp ", 0) == 0) sysroot_stamp = line.substr(14);
        else if (line.rfind(prefix, 0) == 0) value = line.substr(prefix.size());
    }
    if (got_stamps == stamps && !value.empty() && stamp_text(fs::path(sysroot) / "bin/rustc") == sysroot_stamp)
        return value;
    return std::nullopt;
}

// Best effort: a record that cannot be written only means the next call asks again.
void write_stamped(const fs::path& cache_file, const fs::path& tmp_dir, const std::string& stamps,
                   const std::string& sysroot_path, const std::string& tag, const std::string& value) {
    std::string record = stamps + "sysroot " + sysroot_path + "\nsysroot-stamp " +
                         stamp_text(fs::path(sysroot_path) / "bin/rustc") + "\n" + tag + " " + value + "\n";
    (void)util::make_parent_and_retry(cache_file, [&] { return util::write_file_atomic(cache_file, record, tmp_dir); });
}

} // namespace

Result<std::string> toolchain_identity(const std::vector<std::string>& prefix, const fs::path& cache_dir,
                                       const fs::path& tmp_dir) {
    if (prefix.empty()) return fail(ErrorKind::internal, "no compiler");
    std::vector<std::string> resolved = resolve(prefix);

    // Under rustup, the same proxy path runs different toolchains.
    std::string selector;
    for (auto& r : resolved) selector += r + "\n";
    selector += util::env("RUSTUP_TOOLCHAIN").value_or("") + "\n" + util::env("RUSTUP_HOME").value_or("");
    fs::path cache_file = cache_dir / hash::of(selector).hex();

    std::string stamps = stamps_of(resolved);
    if (auto identity = read_stamped(cache_file, resolved, stamps, "identity")) return *identity;

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
    std::string text = version->out;
    if (fs::path(resolved[0]).filename().string().find("clippy-driver") != std::string::npos) {
        auto clippy = util::run_capture({resolved[0], "-V"});
        if (!clippy || clippy->exit_code != 0) return fail(ErrorKind::unsupported, "cannot run " + resolved[0] + " -V");
        text += "clippy: " + clippy->out;
    }
    std::string sysroot_path = trim(sysroot->out);
    std::string identity = hash::of(text).hex();
    write_stamped(cache_file, tmp_dir, stamps, sysroot_path, "identity", identity);
    return identity;
}

Result<std::string> native_cpu(const std::vector<std::string>& prefix, const std::string& target,
                               const fs::path& cache_dir, const fs::path& tmp_dir) {
    if (prefix.empty()) return fail(ErrorKind::internal, "no compiler");
    std::vector<std::string> resolved = resolve(prefix);
    std::string selector = "native-cpu\n" + target + "\n" + host_fingerprint();
    for (auto& r : resolved) selector += r + "\n";
    selector += util::env("RUSTUP_TOOLCHAIN").value_or("") + "\n" + util::env("RUSTUP_HOME").value_or("");
    fs::path cache_file = cache_dir / ("native-" + hash::of(selector).hex());

    std::string stamps = stamps_of(resolved);
    if (auto cpu = read_stamped(cache_file, resolved, stamps, "cpu")) return *cpu;

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

    std::string sysroot_path = trim(sysroot->out);
    write_stamped(cache_file, tmp_dir, stamps, sysroot_path, "cpu", cpu);
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
