// kache::ipc: the flat JSON message (round trip, escapes, what it rejects),
// framing, socket paths, and the blocking client against a scripted server.
#include <kache/ipc.hpp>

#include "core_test_support.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <thread>
#include <utility>
#include <vector>

using namespace kache;
using kache::test::TempDir;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

TEST_CASE("ipc::Message round-trips strings, integers and booleans", "[ipc]") {
    ipc::Message m;
    m.set("type", std::string("check"))
        .set("v", std::int64_t(1))
        .set("zero", std::int64_t(0))
        .set("neg", std::int64_t(-42))
        .set("max", std::numeric_limits<std::int64_t>::max())
        .set("min", std::numeric_limits<std::int64_t>::min())
        .set("empty", std::string())
        .set_bool("yes", true)
        .set_bool("no", false);
    auto json = m.to_json();
    auto back = ipc::Message::parse(json);
    REQUIRE(back);
    CHECK(back->raw() == m.raw());
    CHECK(back->to_json() == json);
    CHECK(back->str("type") == "check");
    CHECK(back->num("v") == 1);
    CHECK(back->num("zero") == 0);
    CHECK(back->num("neg") == -42);
    CHECK(back->num("max") == std::numeric_limits<std::int64_t>::max());
    CHECK(back->num("min") == std::numeric_limits<std::int64_t>::min());
    CHECK(back->str("empty") == "");
    CHECK(back->flag("yes"));
    CHECK_FALSE(back->flag("no"));

    SECTION("accessors check the kind") {
        CHECK_FALSE(back->str("v"));       // a number is not a string
        CHECK_FALSE(back->num("type"));    // a string is not a number
        CHECK_FALSE(back->str("yes"));
        CHECK_FALSE(back->num("yes"));
        CHECK_FALSE(back->flag("type"));   // only a JSON true is a flag
        CHECK_FALSE(back->flag("v"));
        CHECK_FALSE(back->str("missing"));
        CHECK_FALSE(back->num("missing"));
        CHECK_FALSE(back->flag("missing"));
    }
    SECTION("set replaces a field") {
        ipc::Message r = *back;
        r.set("type", std::int64_t(7));
        CHECK(r.num("type") == 7);
        CHECK_FALSE(r.str("type"));
    }
}

TEST_CASE("ipc::Message serializes to one flat JSON object with sorted keys", "[ipc]") {
    ipc::Message m;
    CHECK(m.to_json() == "{}");
    m.set("b", std::int64_t(2)).set("a", std::string("x")).set_bool("c", true);
    CHECK(m.to_json() == R"({"a":"x","b":2,"c":true})");
    auto empty = ipc::Message::parse("{}");
    REQUIRE(empty);
    CHECK(empty->raw().empty());
    auto spaced = ipc::Message::parse(" \t\r\n{ \"a\" : \"x\" ,\n \"b\":2 , \"c\" :true }\n");
    REQUIRE(spaced);
    CHECK(spaced->to_json() == m.to_json());
}

TEST_CASE("ipc::Message escapes and unescapes strings", "[ipc]") {
    const std::string nasty = std::string("quote \" backslash \\ slash / newline \n tab \t cr \r bell \x07 nul ") +
                              std::string(1, '\0') + " unicode é ✓ 😀 end";
    ipc::Message m;
    m.set("s", nasty);
    m.set("key with \"quotes\"\n", std::string("v"));
    auto json = m.to_json();
    // Nothing below 0x20 travels raw: every frame is one line of valid JSON.
    for (unsigned char c : json) CHECK(c >= 0x20);
    CHECK(json.find("\\\"") != std::string::npos);
    CHECK(json.find("\\\\") != std::string::npos);
    CHECK(json.find("\\u0000") != std::string::npos);
    auto back = ipc::Message::parse(json);
    REQUIRE(back);
    CHECK(back->str("s") == nasty);
    CHECK(back->str("key with \"quotes\"\n") == "v");

    SECTION("every JSON escape is understood") {
        auto p = ipc::Message::parse(R"({"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\u2713"})");
        REQUIRE(p);
        CHECK(p->str("s") == "\"\\/\b\f\n\r\tAé✓");
    }
    SECTION("a surrogate pair is one code point, in UTF-8") {
        auto p = ipc::Message::parse(R"({"s":"\ud83d\ude00"})");
        REQUIRE(p);
        CHECK(p->str("s") == "😀");
    }
    SECTION("a path with every printable ASCII character") {
        std::string all;
        for (char c = 0x20; c < 0x7f; ++c) all.push_back(c);
        ipc::Message q;
        q.set("root", "/tmp/" + all);
        auto r = ipc::Message::parse(q.to_json());
        REQUIRE(r);
        CHECK(r->str("root") == "/tmp/" + all);
    }
}

TEST_CASE("ipc::Message drops null fields", "[ipc]") {
    auto p = ipc::Message::parse(R"({"a":null,"b":1})");
    REQUIRE(p);
    CHECK(p->raw().size() == 1);
    CHECK_FALSE(p->str("a"));
    CHECK(p->num("b") == 1);
}

TEST_CASE("ipc::Message rejects nested and malformed input", "[ipc]") {
    const char* bad[] = {
        "",
        " ",
        "null",
        "[]",
        "[{\"a\":1}]",
        "\"just a string\"",
        "42",
        "{",
        "}",
        "{\"a\":1",
        "{\"a\":1}}",
        "{\"a\":1} {\"b\":2}",
        "{\"a\":1}x",
        "{\"a\":{\"b\":1}}",        // nested object
        "{\"a\":[1,2]}",            // array
        "{\"a\":[]}",
        "{\"a\":1,}",               // trailing comma
        "{,}",
        "{\"a\" 1}",                // no colon
        "{\"a\":}",                 // no value
        "{a:1}",                    // unquoted key
        "{'a':1}",
        "{\"a\":'x'}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"bad escape \\x\"}",
        "{\"a\":\"short \\u12\"}",
        "{\"a\":\"raw\nnewline\"}", // a control character inside a string
        "{\"a\":\"tab\there\"}",
        "{\"a\":tru}",
        "{\"a\":nul}",
        "{\"a\":True}",
        "{\"a\":-}",                // a sign without digits
        "{\"a\":1.}",               // a point without digits
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":0x10}",
        "{\"a\":01}",               // a leading zero
        "{\"a\":-01}",
        "{\"a\":\"\\ud83d\"}",      // a high surrogate alone
        "{\"a\":\"\\ude00\"}",      // a low surrogate alone
        "{\"a\":\"\\ud83d\\u0041\"}", // a high surrogate with no low one
        "{\"a\":1 2}",
        "{\"a\":\"x\" \"b\":1}",    // no comma
    };
    for (const char* text : bad) {
        INFO("input: " << text);
        auto p = ipc::Message::parse(text);
        CHECK_FALSE(p);
        if (!p) CHECK(p.error().kind == ErrorKind::invalid_input);
    }
}

TEST_CASE("ipc::Message keeps numbers it cannot read as integers out of num()", "[ipc]") {
    auto p = ipc::Message::parse(R"({"f":1.5,"big":99999999999999999999})");
    REQUIRE(p);
    CHECK_FALSE(p->num("f"));
    CHECK_FALSE(p->num("big"));
    // Still valid JSON when sent on.
    CHECK(ipc::Message::parse(p->to_json()));
}

TEST_CASE("ipc requests carry the protocol version and their type", "[ipc]") {
    auto k = std::string(32, 'a');
    struct Case {
        ipc::Message m;
        const char* type;
    } cases[] = {
        {ipc::Request::ping(), "ping"},
        {ipc::Request::status(), "status"},
        {ipc::Request::stop(), "stop"},
        {ipc::Request::upload(k), "upload"},
        {ipc::Request::check(k, "serde", "1.0.152"), "check"},
        {ipc::Request::session("/work/ws"), "session"},
    };
    for (auto& c : cases) {
        INFO(c.type);
        CHECK(c.m.num("v") == ipc::k_protocol_version);
        CHECK(c.m.str("type") == c.type);
        CHECK(ipc::Message::parse(c.m.to_json()));
    }
    auto check = ipc::Request::check(k, "serde", "1.0.152");
    CHECK(check.str("k1") == k);
    CHECK(check.str("crate") == "serde");
    CHECK(check.str("version") == "1.0.152");
    CHECK(ipc::Request::upload(k).str("k2") == k);
    CHECK(ipc::Request::session("/work/ws").str("root") == "/work/ws");
}

TEST_CASE("ipc::encode_frame prefixes a little-endian length", "[ipc]") {
    CHECK(ipc::encode_frame("") == std::string("\0\0\0\0", 4));
    CHECK(ipc::encode_frame("{}") == std::string("\x02\0\0\0{}", 6));
    std::string big(0x010203, 'x');
    auto f = ipc::encode_frame(big);
    REQUIRE(f.size() == big.size() + 4);
    CHECK(f.substr(0, 4) == std::string("\x03\x02\x01\x00", 4));
}

TEST_CASE("ipc::socket_path insists on an absolute path that fits sun_path", "[ipc]") {
    CHECK(ipc::socket_path("/tmp/kache/daemon.sock") == fs::path("/tmp/kache/daemon.sock"));
    auto rel = ipc::socket_path("daemon.sock");
    REQUIRE_FALSE(rel);
    CHECK(rel.error().message.find("KACHE_SOCKET_PATH") != std::string::npos);
    CHECK_FALSE(ipc::socket_path(""));
    std::string fits = "/" + std::string(ipc::k_max_socket_path - 1, 's');
    REQUIRE(fits.size() == 107);
    CHECK(ipc::socket_path(fits));
    auto too_long = ipc::socket_path(fits + "s");
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error().kind == ErrorKind::config);
    CHECK(too_long.error().message.find("KACHE_SOCKET_PATH") != std::string::npos);
    CHECK(too_long.error().message.find("107") != std::string::npos);
}

namespace {

// A one-connection Unix socket server on a thread, running `script` on the accepted fd.
class ScriptedServer {
public:
    ScriptedServer(const fs::path& path, std::function<void(int)> script) : path_(path) {
        listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listen_fd_ >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listen_fd_, 4) == 0);
        thread_ = std::thread([this, script = std::move(script)] {
            int fd = ::accept(listen_fd_, nullptr, nullptr);
            if (fd < 0) return;
            script(fd);
            ::close(fd);
        });
    }
    ~ScriptedServer() {
        ::shutdown(listen_fd_, SHUT_RDWR);
        thread_.join();
        ::close(listen_fd_);
    }

private:
    fs::path path_;
    int listen_fd_ = -1;
    std::thread thread_;
};

// Reads one frame's payload (blocking).
std::string read_frame(int fd) {
    unsigned char len[4];
    size_t got = 0;
    while (got < 4) {
        ssize_t n = ::recv(fd, len + got, 4 - got, 0);
        if (n <= 0) return {};
        got += static_cast<size_t>(n);
    }
    std::uint32_t n = len[0] | len[1] << 8 | len[2] << 16 | static_cast<std::uint32_t>(len[3]) << 24;
    std::string out(n, '\0');
    got = 0;
    while (got < n) {
        ssize_t r = ::recv(fd, out.data() + got, n - got, 0);
        if (r <= 0) return {};
        got += static_cast<size_t>(r);
    }
    return out;
}

void write_raw(int fd, const std::string& bytes) {
    REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
}

} // namespace

TEST_CASE("ipc::Client fails fast when no daemon listens", "[ipc]") {
    TempDir dir;
    auto t0 = std::chrono::steady_clock::now();
    auto c = ipc::Client::connect(dir.path() / "absent.sock", 2000ms);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(c);
    CHECK(c.error().kind == ErrorKind::not_found);
    CHECK(took < 500ms);

    SECTION("a stale socket file nobody listens on") {
        fs::path p = dir.path() / "stale.sock";
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, p.c_str(), sizeof addr.sun_path - 1);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        ::close(fd); // bound, never listened: what kill -9 leaves behind
        auto s = ipc::Client::connect(p, 2000ms);
        REQUIRE_FALSE(s);
        CHECK(s.error().kind == ErrorKind::not_found);
    }
    SECTION("a path too long for a socket") {
        auto s = ipc::Client::connect("/" + std::string(200, 'x'), 100ms);
        REQUIRE_FALSE(s);
        CHECK(s.error().message.find("KACHE_SOCKET_PATH") != std::string::npos);
    }
}

TEST_CASE("ipc::Client talks frames with a server", "[ipc]") {
    TempDir dir;
    fs::path sock = dir.path() / "d.sock";

    SECTION("call sends one frame and parses the reply") {
        std::string seen;
        {
            ScriptedServer server(sock, [&](int fd) {
                seen = read_frame(fd);
                ipc::Message reply;
                reply.set_bool("ok", true).set("pid", std::int64_t(1234)).set("note", std::string("a \"b\"\n"));
                write_raw(fd, ipc::encode_frame(reply.to_json()));
            });
            auto c = ipc::Client::connect(sock, 1000ms);
            REQUIRE(c);
            auto r = c->call(ipc::Request::ping(), 2000ms);
            REQUIRE(r);
            CHECK(r->flag("ok"));
            CHECK(r->num("pid") == 1234);
            CHECK(r->str("note") == "a \"b\"\n");
        }
        auto req = ipc::Message::parse(seen);
        REQUIRE(req);
        CHECK(req->str("type") == "ping");
        CHECK(req->num("v") == ipc::k_protocol_version);
    }
    SECTION("a reply split into single bytes is reassembled") {
        ScriptedServer server(sock, [](int fd) {
            read_frame(fd);
            for (char ch : ipc::encode_frame(R"({"ok":true,"found":3})")) {
                write_raw(fd, std::string(1, ch));
                std::this_thread::sleep_for(1ms);
            }
        });
        auto c = ipc::Client::connect(sock, 1000ms);
        REQUIRE(c);
        auto r = c->call(ipc::Request::status(), 2000ms);
        REQUIRE(r);
        CHECK(r->num("found") == 3);
    }
    SECTION("a server that never answers: call returns at its deadline") {
        ScriptedServer server(sock, [](int fd) {
            read_frame(fd);
            std::this_thread::sleep_for(1500ms);
        });
        auto c = ipc::Client::connect(sock, 1000ms);
        REQUIRE(c);
        auto t0 = std::chrono::steady_clock::now();
        auto r = c->call(ipc::Request::check(std::string(32, '0'), "x", "1"), 200ms);
        auto took = std::chrono::steady_clock::now() - t0;
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::timeout);
        CHECK(took >= 190ms);
        CHECK(took < 1000ms);
    }
    SECTION("a server that closes the connection: a network error, at once") {
        ScriptedServer server(sock, [](int fd) { read_frame(fd); });
        auto c = ipc::Client::connect(sock, 1000ms);
        REQUIRE(c);
        auto t0 = std::chrono::steady_clock::now();
        auto r = c->call(ipc::Request::ping(), 3000ms);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::network);
        CHECK(std::chrono::steady_clock::now() - t0 < 1000ms);
    }
    SECTION("an oversized reply is refused without reading it") {
        ScriptedServer server(sock, [](int fd) {
            read_frame(fd);
            write_raw(fd, std::string("\xff\xff\xff\x7f", 4));
        });
        auto c = ipc::Client::connect(sock, 1000ms);
        REQUIRE(c);
        auto r = c->call(ipc::Request::ping(), 2000ms);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::invalid_input);
    }
    SECTION("a malformed reply is an error, not a crash") {
        ScriptedServer server(sock, [](int fd) {
            read_frame(fd);
            write_raw(fd, ipc::encode_frame("{\"ok\":[true]}"));
        });
        auto c = ipc::Client::connect(sock, 1000ms);
        REQUIRE(c);
        auto r = c->call(ipc::Request::ping(), 2000ms);
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::invalid_input);
    }
    SECTION("send does not wait for any reply") {
        std::string seen;
        {
            ScriptedServer server(sock, [&](int fd) { seen = read_frame(fd); });
            auto c = ipc::Client::connect(sock, 1000ms);
            REQUIRE(c);
            auto t0 = std::chrono::steady_clock::now();
            REQUIRE(c->send(ipc::Request::upload(std::string(32, 'f')), 50ms));
            CHECK(std::chrono::steady_clock::now() - t0 < 50ms);
        }
        auto req = ipc::Message::parse(seen);
        REQUIRE(req);
        CHECK(req->str("type") == "upload");
    }
}

// True when the decoder waits for more bytes (no error, no payload).
static bool pending(const Result<std::optional<std::string>>& r) { return r.has_value() && !r->has_value(); }

TEST_CASE("ipc::FrameDecoder yields whole payloads however the bytes arrive", "[ipc]") {
    ipc::FrameDecoder d;
    SECTION("nothing until a frame is complete, then exactly it") {
        CHECK(pending(d.next()));
        std::string f = ipc::encode_frame(R"({"v":1,"type":"ping"})");
        for (std::size_t i = 0; i + 1 < f.size(); ++i) {
            d.feed(f.substr(i, 1));
            auto r = d.next();
            REQUIRE(r);
            CHECK_FALSE(*r);
        }
        d.feed(f.substr(f.size() - 1));
        auto r = d.next();
        REQUIRE(r);
        REQUIRE(*r);
        CHECK(**r == R"({"v":1,"type":"ping"})");
        CHECK(d.buffered() == 0);
        CHECK(pending(d.next()));
    }
    SECTION("several frames in one buffer, the last one split") {
        std::string all = ipc::encode_frame("a") + ipc::encode_frame("") + ipc::encode_frame("ccc");
        std::string tail = ipc::encode_frame("dddd");
        d.feed(all + tail.substr(0, 6));
        std::vector<std::string> got;
        while (true) {
            auto r = d.next();
            REQUIRE(r);
            if (!*r) break;
            got.push_back(**r);
        }
        CHECK(got == std::vector<std::string>{"a", "", "ccc"});
        CHECK(d.buffered() == 6);
        d.feed(tail.substr(6));
        auto r = d.next();
        REQUIRE(r);
        REQUIRE(*r);
        CHECK(**r == "dddd");
    }
    SECTION("a frame of exactly k_max_frame is accepted") {
        std::string payload(ipc::k_max_frame, 'x');
        d.feed(ipc::encode_frame(payload));
        auto r = d.next();
        REQUIRE(r);
        REQUIRE(*r);
        CHECK((*r)->size() == ipc::k_max_frame);
    }
    SECTION("an oversized length is refused from its header, and for good") {
        std::string header = ipc::encode_frame(std::string(ipc::k_max_frame + 1, 'x')).substr(0, ipc::k_frame_header);
        d.feed(header);
        auto r = d.next();
        REQUIRE_FALSE(r);
        CHECK(r.error().kind == ErrorKind::invalid_input);
        CHECK(r.error().message.find("too large") != std::string::npos);
        d.feed(ipc::encode_frame("{}"));
        CHECK_FALSE(d.next());
    }
}

TEST_CASE("ipc typed replies round-trip through Message", "[ipc]") {
    SECTION("Ack") {
        auto m = ipc::Ack::failure("upload: bad k2").to_message();
        CHECK(m.to_json() == R"({"error":"upload: bad k2","ok":false})");
        auto back = ipc::Ack::from(*ipc::Message::parse(m.to_json()));
        REQUIRE(back);
        CHECK_FALSE(back->ok);
        CHECK(back->error == "upload: bad k2");
        CHECK(ipc::Ack{}.to_message().to_json() == R"({"ok":true})");
        CHECK_FALSE(ipc::Ack::from(ipc::Message()));
    }
    SECTION("PingReply") {
        auto back = ipc::PingReply::from(ipc::PingReply{4242, "0.1.0"}.to_message());
        REQUIRE(back);
        CHECK(back->pid == 4242);
        CHECK(back->version == "0.1.0");
        CHECK_FALSE(ipc::PingReply::from(ipc::Ack::failure("no").to_message()));
    }
    SECTION("CheckReply") {
        ipc::CheckReply c{true, 3, false, "one pack was corrupt"};
        auto m = c.to_message();
        CHECK_FALSE(m.has("cached"));
        auto back = ipc::CheckReply::from(*ipc::Message::parse(m.to_json()));
        REQUIRE(back);
        CHECK(back->ok);
        CHECK(back->found == 3);
        CHECK_FALSE(back->cached);
        CHECK(back->error == "one pack was corrupt");
        ipc::CheckReply cached;
        cached.cached = true;
        CHECK(cached.to_message().to_json() == R"({"cached":true,"found":0,"ok":true})");
    }
    SECTION("StatusReply, running and not") {
        ipc::StatusReply s;
        s.pid = 77;
        s.version = "0.1.0";
        s.socket = "/tmp/a \"b\"/daemon.sock";
        s.log_file = "/tmp/kached.log";
        s.cache_dir = "/tmp/c";
        s.remote = "file:///mnt/x";
        s.pending_uploads = 5;
        s.uploads_in_flight = 1;
        s.upload_queue = 2;
        s.uploaded = 10;
        s.upload_failures = 3;
        s.remote_checks = 9;
        s.remote_checks_found = 4;
        s.prefetched = 8;
        s.last_error = "oops";
        auto m = s.to_message();
        CHECK(m.flag("ok"));
        auto back = ipc::StatusReply::from(*ipc::Message::parse(m.to_json()));
        REQUIRE(back);
        CHECK(back->to_message().raw() == m.raw());
        CHECK(back->socket == s.socket);
        CHECK(back->prefetched == 8);

        ipc::StatusReply off;
        off.running = false;
        off.pending_uploads = 2;
        off.socket = "/s";
        CHECK(off.to_message().to_json() == R"({"pending_uploads":2,"pid":0,"running":false,"socket":"/s"})");
        auto off_back = ipc::StatusReply::from(off.to_message());
        REQUIRE(off_back);
        CHECK_FALSE(off_back->running);
    }
}

TEST_CASE("ipc::Request::from checks the version and the type", "[ipc]") {
    auto check = ipc::Request::from(ipc::Request::check(std::string(32, 'a'), "serde", "1.0"));
    REQUIRE(check);
    CHECK(check->type == ipc::RequestType::check);
    CHECK(check->k1 == std::string(32, 'a'));
    CHECK(check->crate == "serde");
    CHECK(check->version == "1.0");
    auto up = ipc::Request::from(ipc::Request::upload("ff"));
    REQUIRE(up);
    CHECK(up->type == ipc::RequestType::upload);
    CHECK(up->k2 == "ff");
    for (auto [json, word] : {std::pair{R"({"type":"ping"})", "version"}, {R"({"v":"1","type":"ping"})", "version"},
                              {R"({"v":2,"type":"ping"})", "version"}, {R"({"v":1})", "type"},
                              {R"({"v":1,"type":7})", "type"}, {R"({"v":1,"type":"launch"})", "unknown"}}) {
        auto r = ipc::Request::from(*ipc::Message::parse(json));
        INFO(json);
        REQUIRE_FALSE(r);
        CHECK(r.error().message.find(word) != std::string::npos);
    }
}

TEST_CASE("ipc::FrameDecoder::next_length names the frame being assembled", "[ipc]") {
    ipc::FrameDecoder d;
    CHECK_FALSE(d.next_length());
    std::string big = ipc::encode_frame(std::string(70000, 'x'));
    d.feed(big.substr(0, 3));
    CHECK_FALSE(d.next_length()); // the header is not complete yet
    d.feed(big.substr(3, 100));
    REQUIRE(d.next_length());
    CHECK(*d.next_length() == 70000);
    d.feed(big.substr(103) + ipc::encode_frame("ab"));
    auto r = d.next();
    REQUIRE(r);
    REQUIRE(*r);
    CHECK((*r)->size() == 70000);
    CHECK(d.next_length() == 2u);
    r = d.next();
    REQUIRE(r);
    REQUIRE(*r);
    CHECK(**r == "ab");
    CHECK_FALSE(d.next_length());
    CHECK(d.buffered() == 0);
    // A length over the limit is an error from next(); then there is no next frame.
    d.feed("\xff\xff\xff\xff");
    CHECK(d.next_length() == 0xffffffffu);
    CHECK_FALSE(d.next());
    CHECK_FALSE(d.next_length());
}
