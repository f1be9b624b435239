// The protocol's values: Message (flat JSON), requests, typed replies, and the
// one frame decoder both the client and the server use.
#include <kache/ipc.hpp>
#include <kache/util/json.hpp>

#include <charconv>

namespace kache::ipc {

namespace fs = std::filesystem;

Message& Message::set(const std::string& key, std::string value) {
    std::string json;
    util::append_json_string(json, value);
    fields_[key] = std::move(json);
    return *this;
}
Message& Message::set(const std::string& key, std::int64_t value) {
    fields_[key] = std::to_string(value);
    return *this;
}
Message& Message::set_bool(const std::string& key, bool value) {
    fields_[key] = value ? "true" : "false";
    return *this;
}

std::optional<std::string> Message::str(const std::string& key) const {
    auto it = fields_.find(key);
    if (it == fields_.end() || it->second.empty() || it->second[0] != '"') return std::nullopt;
    auto parsed = util::parse_flat_json("{\"v\":" + it->second + "}");
    if (!parsed) return std::nullopt;
    return parsed->at("v").text;
}
std::optional<std::int64_t> Message::num(const std::string& key) const {
    auto it = fields_.find(key);
    if (it == fields_.end()) return std::nullopt;
    std::int64_t v = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), v);
    if (ec != std::errc() || p != it->second.data() + it->second.size()) return std::nullopt;
    return v;
}
bool Message::flag(const std::string& key) const {
    auto it = fields_.find(key);
    return it != fields_.end() && it->second == "true";
}

std::string Message::to_json() const {
    std::string out = "{";
    bool first = true;
    for (auto& [k, v] : fields_) {
        if (!first) out += ",";
        first = false;
        util::append_json_string(out, k);
        out += ":" + v;
    }
    return out + "}";
}

Result<Message> Message::parse(std::string_view json) {
    auto obj = util::parse_flat_json(json);
    if (!obj) return std::unexpected(obj.error());
    Message m;
    for (auto& [k, v] : *obj) {
        switch (v.kind) {
        case util::JsonScalar::Kind::string: m.set(k, v.text); break;
        case util::JsonScalar::Kind::number: m.fields_[k] = v.text; break;
        case util::JsonScalar::Kind::boolean: m.fields_[k] = v.text; break;
        case util::JsonScalar::Kind::null: break;
        }
    }
    return m;
}

// ---------------------------------------------------------------- requests

namespace {

struct TypeName {
    RequestType type;
    const char* name;
};
constexpr TypeName k_types[] = {
    {RequestType::ping, "ping"},       {RequestType::upload, "upload"}, {RequestType::check, "check"},
    {RequestType::session, "session"}, {RequestType::status, "status"}, {RequestType::stop, "stop"},
};

Message base(RequestType type) {
    Message m;
    m.set("v", std::int64_t(k_protocol_version));
    for (auto& t : k_types)
        if (t.type == type) m.set("type", std::string(t.name));
    return m;
}

} // namespace

Message Request::ping() { return base(RequestType::ping); }
Message Request::upload(std::string_view k2) { return base(RequestType::upload).set("k2", std::string(k2)); }
Message Request::check(std::string_view k1, std::string_view crate, std::string_view version) {
    return base(RequestType::check)
        .set("k1", std::string(k1))
        .set("crate", std::string(crate))
        .set("version", std::string(version));
}
Message Request::session(std::string_view root) { return base(RequestType::session).set("root", std::string(root)); }
Message Request::status() { return base(RequestType::status); }
Message Request::stop() { return base(RequestType::stop); }

Result<Request> Request::from(const Message& m) {
    if (m.num("v") != k_protocol_version)
        return fail(ErrorKind::invalid_input, "unsupported protocol version (restart the daemon: kache daemon restart)");
    auto type = m.str("type");
    if (!type) return fail(ErrorKind::invalid_input, "malformed request: no type");
    Request r;
    bool known = false;
    for (auto& t : k_types)
        if (*type == t.name) {
            r.type = t.type;
            known = true;
        }
    if (!known) return fail(ErrorKind::invalid_input, "unknown request type");
    r.k1 = m.str("k1").value_or("");
    r.k2 = m.str("k2").value_or("");
    r.crate = m.str("crate").value_or("");
    r.version = m.str("version").value_or("");
    r.root = m.str("root").value_or("");
    return r;
}

// ---------------------------------------------------------------- replies

namespace {

Result<void> require_ok_field(const Message& m) {
    auto it = m.raw().find("ok");
    if (it == m.raw().end() || (it->second != "true" && it->second != "false"))
        return fail(ErrorKind::invalid_input, "the daemon's reply has no \"ok\" field");
    return ok();
}

} // namespace

Message Ack::to_message() const {
    Message m;
    m.set_bool("ok", ok);
    if (!error.empty()) m.set("error", error);
    return m;
}

Result<Ack> Ack::from(const Message& m) {
    if (auto r = require_ok_field(m); !r) return std::unexpected(r.error());
    return Ack{m.flag("ok"), m.str("error").value_or("")};
}

Message PingReply::to_message() const {
    Message m;
    m.set_bool("ok", true);
    m.set("pid", pid);
    m.set("version", version);
    return m;
}

Result<PingReply> PingReply::from(const Message& m) {
    if (!m.flag("ok")) return fail(ErrorKind::invalid_input, "ping: " + m.str("error").value_or("not ok"));
    return PingReply{m.num("pid").value_or(0), m.str("version").value_or("")};
}

Message CheckReply::to_message() const {
    Message m;
    m.set_bool("ok", ok);
    m.set("found", found);
    if (cached) m.set_bool("cached", true);
    if (!error.empty()) m.set("error", error);
    return m;
}

Result<CheckReply> CheckReply::from(const Message& m) {
    if (auto r = require_ok_field(m); !r) return std::unexpected(r.error());
    CheckReply c;
    c.ok = m.flag("ok");
    c.found = m.num("found").value_or(0);
    c.cached = m.flag("cached");
    c.error = m.str("error").value_or("");
    return c;
}

Message StatusReply::to_message() const {
    Message m;
    m.set_bool("running", running);
    m.set("pid", pid);
    m.set("pending_uploads", pending_uploads);
    m.set("socket", socket); // escaped: a path may hold any byte but NUL
    if (!running) return m;
    m.set_bool("ok", true);
    m.set("version", version);
    m.set("log_file", log_file);
    m.set("cache_dir", cache_dir);
    m.set("remote", remote);
    m.set("uploads_in_flight", uploads_in_flight);
    m.set("upload_queue", upload_queue);
    m.set("uploaded", uploaded);
    m.set("upload_failures", upload_failures);
    m.set("remote_checks", remote_checks);
    m.set("remote_checks_found", remote_checks_found);
    m.set("prefetched", prefetched);
    m.set("last_error", last_error);
    return m;
}

Result<StatusReply> StatusReply::from(const Message& m) {
    if (!m.has("running") && !m.flag("ok"))
        return fail(ErrorKind::invalid_input, "status: " + m.str("error").value_or("not a status reply"));
    StatusReply s;
    s.running = m.flag("running");
    s.pid = m.num("pid").value_or(0);
    s.version = m.str("version").value_or("");
    s.socket = m.str("socket").value_or("");
    s.log_file = m.str("log_file").value_or("");
    s.cache_dir = m.str("cache_dir").value_or("");
    s.remote = m.str("remote").value_or("none");
    s.pending_uploads = m.num("pending_uploads").value_or(0);
    s.uploads_in_flight = m.num("uploads_in_flight").value_or(0);
    s.upload_queue = m.num("upload_queue").value_or(0);
    s.uploaded = m.num("uploaded").value_or(0);
    s.upload_failures = m.num("upload_failures").value_or(0);
    s.remote_checks = m.num("remote_checks").value_or(0);
    s.remote_checks_found = m.num("remote_checks_found").value_or(0);
    s.prefetched = m.num("prefetched").value_or(0);
    s.last_error = m.str("last_error").value_or("");
    return s;
}

// ---------------------------------------------------------------- framing

namespace {
// Buffer capacity a decoder keeps once it is empty; more is given back.
inline constexpr std::size_t k_keep_capacity = 64 * 1024;
} // namespace

void FrameDecoder::feed(std::string_view bytes) {
    // Drop what was already returned before growing: the buffer stays one frame long.
    if (pos_ > 0 && pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ > k_max_frame) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(bytes);
}

Result<std::optional<std::string>> FrameDecoder::next() {
    if (oversized_) return fail(ErrorKind::invalid_input, "frame too large");
    if (buffered() < k_frame_header) return std::optional<std::string>();
    std::uint32_t len = *next_length();
    if (len > k_max_frame) {
        oversized_ = true;
        buf_.clear();
        pos_ = 0;
        return fail(ErrorKind::invalid_input, "frame too large");
    }
    if (buffered() < k_frame_header + len) {
        // Grown once to the frame's size, not doubled read by read (that would hold twice the frame).
        buf_.reserve(pos_ + k_frame_header + len);
        return std::optional<std::string>();
    }
    std::string payload = buf_.substr(pos_ + k_frame_header, len);
    pos_ += k_frame_header + len;
    if (pos_ == buf_.size()) {
        // An idle connection keeps no memory of its last large frame.
        if (buf_.capacity() > k_keep_capacity) std::string().swap(buf_);
        buf_.clear();
        pos_ = 0;
    }
    return std::optional<std::string>(std::move(payload));
}

std::optional<std::uint32_t> FrameDecoder::next_length() const {
    if (oversized_ || buffered() < k_frame_header) return std::nullopt;
    auto* b = reinterpret_cast<const unsigned char*>(buf_.data() + pos_);
    return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
           static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

std::string encode_frame(std::string_view payload) {
    std::string out;
    out.reserve(k_frame_header + payload.size());
    auto n = static_cast<std::uint32_t>(payload.size());
    for (std::size_t i = 0; i < k_frame_header; ++i) out.push_back(static_cast<char>(n >> (8 * i)));
    out.append(payload);
    return out;
}

Result<fs::path> socket_path(const fs::path& configured) {
    if (configured.empty() || !configured.is_absolute())
        return fail(ErrorKind::config, "the daemon socket path '" + configured.string() +
                                           "' is not absolute: set KACHE_SOCKET_PATH to an absolute path");
    if (configured.native().size() > k_max_socket_path)
        return fail(ErrorKind::config, "the daemon socket path " + configured.string() + " is longer than " +
                                           std::to_string(k_max_socket_path) +
                                           " bytes, the limit for Unix sockets: set KACHE_SOCKET_PATH to a shorter path");
    return configured;
}

} // namespace kache::ipc
