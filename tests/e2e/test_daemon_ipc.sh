#!/usr/bin/env bash
# The daemon's socket under load and under bad input: 64 clients at once are
# all answered; malformed JSON, a wrong protocol version, an unknown type, a
# frame longer than 1 MiB and truncated frames are rejected, and the daemon
# keeps serving (a ping afterwards succeeds). Talks raw frames from python3.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

machine m
sock=$KACHE_CACHE_DIR/daemon.sock
daemon_start

note "64 clients at once, each with a few requests on its own connection"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "not every client was answered"
import threading, time
N, ROUNDS = 64, 5
start = threading.Barrier(N)
errors, answered = [], [0] * N
def client(i):
    try:
        s = connect(timeout=20)
        start.wait()
        for r in range(ROUNDS):
            req = {"v": 1, "type": ("ping", "status")[r % 2]}
            reply = call(req, s)
            assert reply.get("ok") is True, reply
            if req["type"] == "status":
                assert reply.get("running") is True and reply.get("pid", 0) > 0, reply
            answered[i] += 1
        s.close()
    except Exception as e:
        errors.append("client %d: %r" % (i, e))
t0 = time.time()
threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads: t.start()
for t in threads: t.join(60)
print("   %d clients x %d requests answered in %.0f ms" % (N, ROUNDS, (time.time() - t0) * 1000))
if errors or sum(answered) != N * ROUNDS:
    raise SystemExit("answered %d of %d; errors: %s" % (sum(answered), N * ROUNDS, errors[:5]))
EOF

note "64 clients connecting at once with one request each (the listen backlog)"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "not every one-shot client was answered"
import threading
N = 64
start = threading.Barrier(N)
errors = []
def client(i):
    try:
        start.wait()
        reply = call({"v": 1, "type": "ping"})
        assert reply.get("ok") is True, reply
    except Exception as e:
        errors.append("client %d: %r" % (i, e))
threads = [threading.Thread(target=client, args=(i,)) for i in range(N)]
for t in threads: t.start()
for t in threads: t.join(60)
if errors:
    raise SystemExit("%d of %d failed: %s" % (len(errors), N, errors[:5]))
EOF

note "bad requests on one connection: each rejected, the connection and the daemon keep serving"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "bad requests"
s = connect()
cases = [
    ("not JSON", "this is not json", "malformed"),
    ("truncated JSON", '{"v":1,"type":"pi', "malformed"),
    ("a JSON array", '[1,2,3]', "malformed"),
    ("a JSON string", '"ping"', "malformed"),
    ("an empty frame", "", "malformed"),
    ("wrong version", '{"v":99,"type":"ping"}', "version"),
    ("version as a string", '{"v":"1","type":"ping"}', "version"),
    ("no version", '{"type":"ping"}', "version"),
    ("no type", '{"v":1}', "type"),
    ("type not a string", '{"v":1,"type":7}', "type"),
    ("unknown type", '{"v":1,"type":"launch-missiles"}', "unknown"),
    ("upload with a bad k2", '{"v":1,"type":"upload","k2":"zz"}', "k2"),
    ("check without crate", '{"v":1,"type":"check","k1":"00112233445566778899aabbccddeeff"}', "crate"),
    ("session with a relative root", '{"v":1,"type":"session","root":"rel/dir"}', "absolute"),
    ("invalid UTF-8", b'{"v":1,"type":"\xff\xfe"}', ""),
]
for name, payload, word in cases:
    reply = call(payload, s)
    assert reply.get("ok") is False, (name, reply)
    assert word.lower() in reply.get("error", "").lower(), (name, reply)
    assert call({"v": 1, "type": "ping"}, s).get("ok") is True, "ping on the same connection after " + name
    print("   %-28s -> %s" % (name, reply["error"]))
s.close()
ping()
EOF

note "an oversized frame (length > 1 MiB) is refused and its connection closed"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "oversized frame"
import struct
s = connect()
s.sendall(struct.pack("<I", (1 << 20) + 1) + b'{"v":1,"type":"ping"')
try:
    reply = read_reply(s)
    assert reply.get("ok") is False and "too large" in reply.get("error", ""), reply
    print("   oversized -> %s" % reply["error"])
    # Nothing more is read from that connection.
    assert s.recv(1) == b"", "the connection stayed open after an oversized frame"
except (EOFError, ConnectionError):
    print("   oversized -> connection closed")
s.close()
# A 4 GiB length prefix, too.
s = connect()
s.sendall(b"\xff\xff\xff\xff")
try:
    read_reply(s)
except (EOFError, ConnectionError):
    pass
s.close()
ping()
EOF

note "a frame of exactly 1 MiB is still read and answered"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "a 1 MiB frame"
body = '{"v":1,"type":"ping","pad":"%s"}'
pad = "x" * ((1 << 20) - len(body % ""))
payload = body % pad
assert len(payload) == 1 << 20
reply = call(payload)
assert reply.get("ok") is True, reply
ping()
EOF

note "truncated frames: a short length prefix, a short payload, then the client goes away"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "truncated frames"
import struct
for partial in (b"\x10", b"\x10\x00", struct.pack("<I", 100) + b'{"v":1,"ty', struct.pack("<I", 100)):
    s = connect()
    s.sendall(partial)
    s.close()
# A client that sends half a frame and stays: others are still served meanwhile.
stuck = connect()
stuck.sendall(struct.pack("<I", 50) + b'{"v":1,')
ping()
call({"v": 1, "type": "status"})
# The rest of the frame arrives later: the request is then answered.
rest = b'"type":"ping"}'
stuck.sendall(rest + b" " * (50 - len(b'{"v":1,') - len(rest)))
assert read_reply(stuck).get("ok") is True
stuck.close()
# Two frames in one write, and a frame split byte by byte.
s = connect()
s.sendall(frame('{"v":1,"type":"ping"}') + frame('{"v":1,"type":"status"}'))
assert read_reply(s).get("ok") is True and read_reply(s).get("running") is True
for b in frame('{"v":1,"type":"ping"}'):
    s.sendall(bytes([b]))
assert read_reply(s).get("ok") is True
s.close()
ping()
EOF

note "a client that never reads its replies does not stop the daemon"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "a client that does not read"
s = connect(timeout=2)
req = frame('{"v":1,"type":"status"}')
try:
    for _ in range(2000):
        s.sendall(req)
except TimeoutError:
    pass  # the daemon stopped reading from a client that does not read its replies
ping()
s.close()
ping()
EOF

note "the daemon survived it all"
kill -0 "$DAEMON_PID" || fail "kached died"
assert_eq "$(status_field pid)" "$DAEMON_PID" "the daemon's pid"
assert_file_not_contains "$KACHE_CACHE_DIR/kached.log" 'error' "kached.log"
