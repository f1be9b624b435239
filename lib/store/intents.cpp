// Upload intents: durable files under upload-queue/ naming entries the daemon must upload,
// and the one lookup an upload needs (which input set produced an entry).
#include <kache/store.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace kache::store {

namespace {
// An intent is "<64 hex digits>\n"; anything much larger is not one.
inline constexpr std::uint64_t k_max_intent_bytes = 256;
} // namespace

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

std::vector<std::string> Store::remove_unparseable_intents() const {
    std::vector<std::string> removed;
    std::error_code ec;
    for (auto it = fs::directory_iterator(upload_queue_dir(), ec); !ec && it != fs::directory_iterator();
         it.increment(ec)) {
        const fs::path& p = it->path();
        std::string name = p.filename().string();
        std::string why;
        struct stat st {};
        if (::lstat(p.c_str(), &st) != 0) continue; // gone meanwhile
        if (!S_ISREG(st.st_mode)) why = "not a regular file";
        else if (!hash::Digest::from_hex(name)) why = "its name is not an entry key";
        else {
            auto text = util::read_file_bounded(p, k_max_intent_bytes);
            if (!text) {
                if (text.error().kind == ErrorKind::not_found) continue;
                if (text.error().kind != ErrorKind::invalid_input && text.error().kind != ErrorKind::corrupt)
                    continue; // unreadable for now: judge it another time
                why = "too large";
            } else if (*text != name + "\n") why = "its content does not name its entry";
        }
        if (why.empty()) continue;
        std::error_code ec2;
        if (S_ISDIR(st.st_mode) ? fs::remove_all(p, ec2) > 0 : ::unlink(p.c_str()) == 0)
            removed.push_back(p.string() + " (" + why + ")");
    }
    return removed;
}

std::optional<key::InputSet> Store::input_set_of(const hash::Digest& k1, const hash::Digest& k2) const {
    auto m = read_manifest(k1);
    if (!m) return std::nullopt;
    for (auto& set : m->sets)
        if (key::result_key(k1, set) == k2) return set;
    return std::nullopt;
}

} // namespace kache::store
