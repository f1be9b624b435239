// Stand-ins for the container and instance-metadata credential sources until their own
// files (credentials_container.cpp, credentials_imds.cpp) are in the tree: not configured.
// lib/remote/meson.build builds this file only while those are missing.
#include <kache/remote/credentials.hpp>

namespace kache::remote {

CredentialSource container_credentials(const EnvLookup&) {
    return []() -> Result<std::optional<Credentials>> { return std::nullopt; };
}

CredentialSource instance_metadata_credentials(const EnvLookup&) {
    return []() -> Result<std::optional<Credentials>> { return std::nullopt; };
}

} // namespace kache::remote
