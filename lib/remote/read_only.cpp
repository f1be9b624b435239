#include <kache/remote/read_only.hpp>

namespace kache::remote {

namespace {

class ReadOnlyBackend final : public RemoteBackend {
public:
    explicit ReadOnlyBackend(std::unique_ptr<RemoteBackend> inner) : inner_(std::move(inner)) {}

    Result<bool> exists(const std::string& key) override { return inner_->exists(key); }
    Result<void> get(const std::string& key, const std::filesystem::path& dest) override {
        return inner_->get(key, dest);
    }
    Result<void> get_bounded(const std::string& key, const std::filesystem::path& dest,
                             std::uint64_t max_bytes) override {
        return inner_->get_bounded(key, dest, max_bytes);
    }
    Result<LocalObject> open_local(const std::string& key) override { return inner_->open_local(key); }
    Result<void> put(const std::string& key, const std::filesystem::path&, Overwrite) override {
        return refuse("upload", key);
    }
    Result<std::vector<ObjectInfo>> list(const std::string& prefix) override { return inner_->list(prefix); }
    Result<void> remove(const std::string& key) override { return refuse("remove", key); }
    std::string describe() const override { return inner_->describe() + " (read-only)"; }

private:
    Result<void> refuse(const char* what, const std::string& key) const {
        return fail(ErrorKind::denied, "the remote " + inner_->describe() + " is read-only (KACHE_REMOTE_READONLY): "
                                       "not going to " + what + " '" + key + "'; unset KACHE_REMOTE_READONLY to allow writes");
    }

    std::unique_ptr<RemoteBackend> inner_;
};

} // namespace

std::unique_ptr<RemoteBackend> make_read_only(std::unique_ptr<RemoteBackend> inner) {
    return std::make_unique<ReadOnlyBackend>(std::move(inner));
}

} // namespace kache::remote
