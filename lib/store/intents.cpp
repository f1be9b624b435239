// Upload intents: durable files under upload-queue/ naming entries the daemon must upload,
// and the one lookup an upload needs (which input set produced an entry).
#include <kache/store.hpp>

#include <unistd.h>

#include <algorithm>

namespace kache::store {

fs::path Store::upload_queue_dir() const { return root_ / "upload-queue"; }

Result<void> Store::add_upload_intent(const hash::Digest& k2) const {
    fs::path p = upload_queue_dir() / k2.hex();
    return util::make_parent_and_retry(p, [&] { return util::write_file_atomic(p, k2.hex() + "\n", tmp_dir()); });
}

void Store::remove_upload_intent(const hash::Digest& k2) const { ::unlink((upload_queue_dir() / k2.hex()).c_str()); }

std::vector<hash::Digest> Store::upload_intents() const {
    std::vector<std::pair<fs::file_time_type, hash::Digest>> found;
    std::error_code ec;
    for (auto it = fs::directory_iterator(upload_queue_dir(), ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        auto d = hash::Digest::from_hex(it->path().filename().string());
        if (!d) continue;
        std::error_code ec2;
        auto when = it->last_write_time(ec2); // a file removed meanwhile sorts first; harmless
        found.emplace_back(ec2 ? fs::file_time_type::min() : when, *d);
    }
    std::sort(found.begin(), found.end()); // oldest first
    std::vector<hash::Digest> out;
    out.reserve(found.size());
    for (auto& [_, d] : found) out.push_back(d);
    return out;
}

std::optional<key::InputSet> Store::input_set_of(const hash::Digest& k1, const hash::Digest& k2) const {
    auto m = read_manifest(k1);
    if (!m) return std::nullopt;
    for (auto& set : m->sets)
        if (key::result_key(k1, set) == k2) return set;
    return std::nullopt;
}

} // namespace kache::store
