#include <kache/key.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <cstdlib>
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

} // namespace

Result<std::string> toolchain_identity(const std::vector<std::string>& prefix, const fs::path& cache_dir,
                                       const fs::path& tmp_dir) {
    if (prefix.empty()) return fail(ErrorKind::internal, "no compiler");
    std::vector<std::string> resolved;
    for (auto& p : prefix) resolved.push_back(util::which(p));

    // Under rustup, the same proxy path runs different toolchains.
    std::string selector;
    for (auto& r : resolved) selector += r + "\n";
    selector += util::env("RUSTUP_TOOLCHAIN").value_or("") + "\n" + util::env("RUSTUP_HOME").value_or("");
    fs::path cache_file = cache_dir / hash::of(selector).hex();

    std::string stamps;
    for (auto& r : resolved) stamps += stamp_text(r) + "\n";

    if (auto cached = util::read_file_bounded(cache_file, 64 * 1024)) {
        // Lines: stamps..., "sysroot <path>", "sysroot-stamp <stamp>", "identity <hex>".
        std::istringstream in(*cached);
        std::string line, got_stamps, sysroot, sysroot_stamp, identity;
        for (size_t i = 0; i < resolved.size() && std::getline(in, line); ++i) got_stamps += line + "\n";
        while (std::getline(in, line)) {
            if (line.rfind("sysroot ", 0) == 0) sysroot = line.substr(8);
            else if (line.rfind("sysroot-stamp ", 0) == 0) sysroot_stamp = line.substr(14);
            else if (line.rfind("identity ", 0) == 0) identity = line.substr(9);
        }
        if (got_stamps == stamps && !identity.empty() && stamp_text(fs::path(sysroot) / "bin/rustc") == sysroot_stamp)
            return identity;
    }

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
    std::string record = stamps + "sysroot " + sysroot_path + "\nsysroot-stamp " +
                         stamp_text(fs::path(sysroot_path) / "bin/rustc") + "\nidentity " + identity + "\n";
    if (!util::write_file_atomic(cache_file, record, tmp_dir)) {
        if (util::make_dirs(cache_dir)) (void)util::write_file_atomic(cache_file, record, tmp_dir);
    }
    return identity;
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
