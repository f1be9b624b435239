#include <kache/remote/pack.hpp>
#include <kache/remote/sync.hpp>
#include <kache/util/fs.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

namespace kache::remote {

namespace fs = std::filesystem;

namespace {

// A scratch file in the store's tmp dir, removed when it goes out of scope.
struct Scratch {
    fs::path path;
    explicit Scratch(const store::Store& s, std::string_view tag)
        : path(s.tmp_dir() / (std::string(".") + std::string(tag) + "." + std::to_string(::getpid()) + "." +
                              std::to_string(util::now_ns()) + "." +
                              std::to_string(std::hash<std::thread::id>{}(std::this_thread::get_id())))) {}
    ~Scratch() { ::unlink(path.c_str()); }
};

// Runs fn(i) for i in [0, n) on `jobs` threads.
void parallel(std::size_t n, int jobs, const std::function<void(std::size_t, int)>& fn) {
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    int workers = std::max(1, std::min<int>(jobs, static_cast<int>(n)));
    for (int w = 0; w < workers; ++w)
        threads.emplace_back([&, w] {
            for (std::size_t i; (i = next++) < n;) fn(i, w);
        });
    for (auto& t : threads) t.join();
}

std::uint64_t size_of(const fs::path& p) {
    std::error_code ec;
    auto n = fs::file_size(p, ec);
    return ec ? 0 : n;
}

// Splits "v1/manifests/<crate>/<version>/<K1>/<K2>" (relative to the backend's prefix).
struct ManifestName {
    hash::Digest k1, k2;
};
std::optional<ManifestName> parse_manifest_key(std::string_view key) {
    auto slash2 = key.rfind('/');
    if (slash2 == std::string_view::npos) return std::nullopt;
    auto slash1 = key.rfind('/', slash2 - 1);
    if (slash1 == std::string_view::npos) return std::nullopt;
    auto k1 = hash::Digest::from_hex(key.substr(slash1 + 1, slash2 - slash1 - 1));
    auto k2 = hash::Digest::from_hex(key.substr(slash2 + 1));
    if (!k1 || !k2) return std::nullopt;
    return ManifestName{*k1, *k2};
}

// The input set that produced entry e, from the local manifest of its K1.
std::optional<key::InputSet> input_set_of(const store::Store& s, const store::Entry& e) {
    auto m = s.read_manifest(e.k1);
    if (!m) return std::nullopt;
    for (auto& set : m->sets)
        if (key::result_key(e.k1, set) == e.k2) return set;
    return std::nullopt;
}

} // namespace

Result<std::uint64_t> pull_entry(store::Store& store, RemoteBackend& backend, const std::string& mkey) {
    auto name = parse_manifest_key(mkey);
    if (!name) return fail(ErrorKind::corrupt, "unexpected remote object " + mkey);
    Scratch mfile(store, "rmanifest");
    if (auto g = backend.get(mkey, mfile.path); !g) return std::unexpected(g.error());
    auto text = util::read_file_bounded(mfile.path, 16 << 20);
    if (!text) return std::unexpected(text.error());
    auto set = parse_manifest_object(*text);
    if (!set) return std::unexpected(set.error());
    // The object's name must be what its content says, or it could redirect a key.
    if (key::result_key(name->k1, *set) != name->k2)
        return fail(ErrorKind::corrupt, "remote manifest " + mkey + " does not match its key");
    std::uint64_t bytes = text->size();
    if (!store.has_entry(name->k2)) {
        // The pack lives under the crate directory of the manifest key.
        std::string crate_dir = mkey.substr(std::string("v1/manifests/").size());
        crate_dir = crate_dir.substr(0, crate_dir.find('/'));
        std::string pkey = "v1/packs/" + crate_dir + "/" + name->k2.hex() + ".pack";
        Scratch pfile(store, "rpack");
        if (auto g = backend.get(pkey, pfile.path); !g) return std::unexpected(g.error());
        bytes += size_of(pfile.path);
        auto entry = unpack(store, pfile.path, name->k2, {}, name->k1);
        if (!entry) return std::unexpected(entry.error());
    }
    auto lock = store.lock_key(name->k1, std::chrono::seconds(30));
    if (!lock) return std::unexpected(lock.error());
    if (auto a = store.add_input_set(name->k1, *set); !a) return std::unexpected(a.error());
    return bytes;
}

Result<SyncReport> sync(store::Store& store, const BackendMaker& make_backend, const SyncOptions& opt) {
    auto t0 = std::chrono::steady_clock::now();
    SyncReport report;
    auto lister = make_backend();
    if (!lister) return std::unexpected(lister.error());
    std::mutex mu;

    // Each worker has its own backend.
    std::vector<std::unique_ptr<RemoteBackend>> backends(static_cast<size_t>(std::max(1, opt.jobs)));
    auto backend_for = [&](int w) -> Result<RemoteBackend*> {
        if (!backends[static_cast<size_t>(w)]) {
            auto b = make_backend();
            if (!b) return std::unexpected(b.error());
            backends[static_cast<size_t>(w)] = std::move(*b);
        }
        return backends[static_cast<size_t>(w)].get();
    };
    auto record_failure = [&](const std::string& what, const Error& e) {
        std::lock_guard g(mu);
        ++report.failed;
        report.errors.push_back(what + ": " + e.message);
    };

    if (opt.push) {
        auto remote_packs = (*lister)->list("v1/packs/");
        if (!remote_packs) return std::unexpected(remote_packs.error());
        std::set<std::string> have;
        for (auto& o : *remote_packs) have.insert(o.key);
        std::vector<store::Entry> todo;
        for (auto& e : store.list_entries()) {
            if (have.contains(pack_key(e))) ++report.up_to_date;
            else todo.push_back(std::move(e));
        }
        std::atomic<std::size_t> done{0};
        if (!opt.dry_run)
            parallel(todo.size(), opt.jobs, [&](std::size_t i, int w) {
                auto& e = todo[i];
                auto b = backend_for(w);
                auto set = input_set_of(store, e);
                if (!b) record_failure(e.crate, b.error());
                else if (!set) {
                    // Its manifest dropped the input set (the cap keeps the newest):
                    // nothing could ever find this entry, so there is nothing to share.
                    std::lock_guard g(mu);
                    ++report.skipped;
                } else {
                    Scratch pfile(store, "pack");
                    Scratch mfile(store, "manifest");
                    auto size = pack(store, e, pfile.path);
                    Result<void> r = size ? ok() : Result<void>(std::unexpected(size.error()));
                    if (r) r = util::write_file_atomic(mfile.path, manifest_object(*set), store.tmp_dir());
                    // The pack first: a manifest must never name a pack that is not there.
                    if (r) {
                        r = (*b)->put(pack_key(e), pfile.path, Overwrite::no);
                        if (!r && r.error().kind == ErrorKind::conflict) r = ok();
                    }
                    if (r) {
                        r = (*b)->put(manifest_key(e), mfile.path, Overwrite::no);
                        if (!r && r.error().kind == ErrorKind::conflict) r = ok();
                    }
                    if (!r) record_failure(e.crate, r.error());
                    else {
                        std::lock_guard g(mu);
                        ++report.pushed;
                        report.bytes_up += *size + size_of(mfile.path);
                    }
                }
                if (opt.progress) opt.progress(++done, todo.size());
            });
        else report.pushed = todo.size();
    }

    if (opt.pull) {
        std::vector<std::string> prefixes;
        if (opt.crates.empty()) prefixes.push_back("v1/manifests/");
        else
            for (auto& c : opt.crates) prefixes.push_back(crate_manifest_prefix(c));
        std::vector<std::string> todo;
        for (auto& p : prefixes) {
            auto objects = (*lister)->list(p);
            if (!objects) return std::unexpected(objects.error());
            for (auto& o : *objects) {
                auto name = parse_manifest_key(o.key);
                if (!name) continue;
                bool have = store.has_entry(name->k2);
                if (have) {
                    auto m = store.read_manifest(name->k1);
                    bool listed = false;
                    if (m)
                        for (auto& s : m->sets) listed = listed || key::result_key(name->k1, s) == name->k2;
                    if (listed) {
                        ++report.up_to_date;
                        continue;
                    }
                }
                todo.push_back(o.key);
            }
        }
        std::atomic<std::size_t> done{0};
        if (!opt.dry_run)
            parallel(todo.size(), opt.jobs, [&](std::size_t i, int w) {
                auto b = backend_for(w);
                if (!b) record_failure(todo[i], b.error());
                else if (auto n = pull_entry(store, **b, todo[i]); !n) record_failure(todo[i], n.error());
                else {
                    std::lock_guard g(mu);
                    ++report.pulled;
                    report.bytes_down += *n;
                }
                if (opt.progress) opt.progress(++done, todo.size());
            });
        else report.pulled = todo.size();
    }
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return report;
}

Result<std::set<std::string>> packages_in_lockfile(const fs::path& lockfile) {
    auto text = util::read_file_bounded(lockfile, 64 << 20);
    if (!text) return std::unexpected(text.error());
    std::set<std::string> out;
    bool in_package = false;
    size_t pos = 0;
    while (pos < text->size()) {
        size_t end = text->find('\n', pos);
        if (end == std::string::npos) end = text->size();
        std::string_view line(text->data() + pos, end - pos);
        pos = end + 1;
        if (line.starts_with("[[package]]")) in_package = true;
        else if (line.starts_with("[")) in_package = false;
        else if (in_package && line.starts_with("name = \"") && line.ends_with("\"")) {
            out.insert(key_safe(line.substr(8, line.size() - 9)));
        }
    }
    return out;
}

} // namespace kache::remote
