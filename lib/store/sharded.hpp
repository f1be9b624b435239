// The store's sharded folders (<folder>/ab/<rest of the hex>), walked one way
// everywhere: GC, listing, usage and verify. A shard that is a symlink is not
// entered, so no walk that deletes can reach outside the store.
#pragma once

#include <filesystem>
#include <system_error>

namespace kache::store::detail {

// Calls fn(entry) for every directory entry two levels below dir.
template <class Fn>
void for_each_sharded(const std::filesystem::path& dir, Fn fn) {
    namespace fs = std::filesystem;
    std::error_code ec;
    for (auto sh = fs::directory_iterator(dir, ec); !ec && sh != fs::directory_iterator(); sh.increment(ec)) {
        std::error_code ec2;
        if (sh->is_symlink(ec2) || !sh->is_directory(ec2)) continue;
        for (auto f = fs::directory_iterator(sh->path(), ec2); !ec2 && f != fs::directory_iterator(); f.increment(ec2))
            fn(*f);
    }
}

} // namespace kache::store::detail
