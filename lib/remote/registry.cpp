#include <kache/remote.hpp>

namespace kache::remote {

Registry& Registry::instance() {
    static Registry registry;
    return registry;
}

void Registry::add(const std::string& scheme, BackendFactory factory) {
    factories_[scheme] = std::move(factory);
}

Result<std::unique_ptr<RemoteBackend>> Registry::create(const RemoteSpec& spec) const {
    auto colon = spec.url.find("://");
    if (colon == std::string::npos)
        return fail(ErrorKind::config, "remote URL '" + spec.url +
                                           "' has no scheme: write it as s3://bucket/prefix or file:///path");
    std::string scheme = spec.url.substr(0, colon);
    auto it = factories_.find(scheme);
    if (it == factories_.end()) {
        std::string known;
        for (auto& [name, _] : factories_) known += (known.empty() ? "" : ", ") + name;
        return fail(ErrorKind::config, "no remote backend for scheme '" + scheme + "' (known: " +
                                           (known.empty() ? "none" : known) + ")");
    }
    return it->second(spec);
}

std::vector<std::string> Registry::schemes() const {
    std::vector<std::string> out;
    for (auto& [name, _] : factories_) out.push_back(name);
    return out;
}

} // namespace kache::remote
