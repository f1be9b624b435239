#include <kache/remote/builtin.hpp>
#include <kache/remote.hpp>
#include <kache/remote/filesystem.hpp>
#include <kache/remote/read_only.hpp>
#include <kache/remote/s3.hpp>
#include <kache/remote/sigv4.hpp>

namespace kache::remote {

namespace {

std::unique_ptr<RemoteBackend> maybe_read_only(std::unique_ptr<RemoteBackend> b, const RemoteSpec& spec) {
    return spec.read_only ? make_read_only(std::move(b)) : std::move(b);
}

Result<std::unique_ptr<RemoteBackend>> make_s3(const RemoteSpec& spec) {
    auto cfg = resolve_s3_config(spec);
    if (!cfg) return std::unexpected(cfg.error());
    auto backend = S3Backend::create(std::move(*cfg));
    if (!backend) return std::unexpected(backend.error());
    return maybe_read_only(std::move(*backend), spec);
}

Result<std::unique_ptr<RemoteBackend>> make_file(const RemoteSpec& spec) {
    // file:///abs/path, or file://localhost/abs/path; %XX escapes allowed in the path.
    std::string_view url = spec.url;
    constexpr std::string_view scheme = "file://";
    if (!url.starts_with(scheme))
        return fail(ErrorKind::config, "remote URL '" + spec.url + "' is not a file:// URL: write file:///absolute/path");
    url.remove_prefix(scheme.size());
    if (url.starts_with("localhost/")) url.remove_prefix(std::string_view("localhost").size());
    if (!url.starts_with("/"))
        return fail(ErrorKind::config, "remote URL '" + spec.url +
                                           "' names a host or a relative path: write file:///absolute/path");
    auto backend = FilesystemBackend::create(sigv4::uri_decode(url));
    if (!backend) return std::unexpected(backend.error());
    return maybe_read_only(std::move(*backend), spec);
}

} // namespace

void register_builtin_backends() {
    Registry& r = Registry::instance();
    r.add("s3", make_s3);
    r.add("file", make_file);
}

} // namespace kache::remote
