// The systemd user unit: written with file I/O, systemctl run with argv (no shell).
#include <kache/daemon/service.hpp>
#include <kache/util/fs.hpp>
#include <kache/util/process.hpp>

#include <pwd.h>
#include <unistd.h>

#include <string_view>
#include <vector>

namespace kache::daemon {

namespace fs = std::filesystem;

namespace {

// Runs `systemctl --user args...` with its output captured (and dropped); true on exit 0.
bool systemctl(std::vector<std::string> args) {
    args.insert(args.begin(), {"systemctl", "--user"});
    auto r = util::run_capture(args);
    return r && r->exit_code == 0;
}

fs::path home_dir() {
    if (auto h = util::env("HOME"); h && !h->empty()) return *h;
    if (struct passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir) return pw->pw_dir;
    return "/root";
}

// One ExecStart word: quoted, with systemd's escapes for '\', '"' and '%'.
std::string unit_quote(std::string_view word) {
    std::string out = "\"";
    for (char c : word) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '%') out += '%';
        out += c;
    }
    return out + "\"";
}

} // namespace

bool systemd_user_available() { return systemctl({"show-environment"}); }

fs::path service_unit_path() { return home_dir() / ".config" / "systemd" / "user" / k_service_name; }

std::string service_unit_text(const fs::path& kached) {
    return "[Unit]\n"
           "Description=kache build cache daemon\n"
           "\n"
           "[Service]\n"
           "ExecStart=" + unit_quote(kached.string()) + " run\n"
           "Restart=on-failure\n"
           "\n"
           "[Install]\n"
           "WantedBy=default.target\n";
}

Result<ServiceInstall> install_service(const fs::path& kached) {
    if (!systemd_user_available())
        return fail(ErrorKind::unsupported, "systemctl --user is not available here (no systemd user session); "
                                            "start the daemon with `kache daemon start` instead, e.g. from your shell profile");
    ServiceInstall out;
    out.unit_file = service_unit_path();
    fs::path dir = out.unit_file.parent_path();
    if (auto made = util::make_dirs(dir); !made) return std::unexpected(made.error());
    if (auto w = util::write_file_atomic(out.unit_file, service_unit_text(kached), dir); !w)
        return fail(ErrorKind::io, "cannot write " + out.unit_file.string() + ": " + w.error().message);
    out.enabled = systemctl({"daemon-reload"}) && systemctl({"enable", "--now", k_service_name});
    return out;
}

Result<fs::path> uninstall_service() {
    if (!systemd_user_available())
        return fail(ErrorKind::unsupported, "systemctl --user is not available here (no systemd user session); "
                                            "start the daemon with `kache daemon start` instead, e.g. from your shell profile");
    fs::path unit = service_unit_path();
    (void)systemctl({"disable", "--now", k_service_name});
    ::unlink(unit.c_str());
    (void)systemctl({"daemon-reload"});
    return unit;
}

} // namespace kache::daemon
