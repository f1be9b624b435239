#!/usr/bin/env bash
# What a peer on the daemon's socket can make it spend is bounded (docs/ipc.md,
# "Limits"): 128 connections each holding a 1 MiB frame one byte short, plus one
# client pipelining 400 000 requests without reading a reply, grow the daemon's
# RSS by less than 64 MiB; a status request answers meanwhile; the memory is
# given back when they hang up; a connection that sends half a frame and stalls
# is closed after the idle timeout; connections beyond the limit are refused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

machine m
sock=$KACHE_CACHE_DIR/daemon.sock
daemon_start

note "abuse: 128 connections x 1 MiB frame one byte short, and 400 000 pipelined requests never read"
export DAEMON_PID KACHE
python3 "$IPC_PY" "$sock" <<'EOF' || fail "the daemon's memory or latency under abuse"
import os, struct, subprocess, threading, time

MIB = 1 << 20
LIMIT_GROWTH = 64 * MIB
LIMIT_LATENCY = 1.0  # s; the target is 50 ms, this machine is shared and noisy
pid = int(os.environ["DAEMON_PID"])

def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS for the daemon (pid %d): it died" % pid)

def ping_latency():
    t0 = time.monotonic()
    s = connect(timeout=5)
    r = call({"v": 1, "type": "status"}, s)
    s.close()
    assert r.get("ok") is True and r.get("running") is True, r
    return time.monotonic() - t0

def cli_status_latency():
    t0 = time.monotonic()
    out = subprocess.run([os.environ["KACHE"], "daemon", "status", "--json"], capture_output=True, text=True, timeout=30)
    dt = time.monotonic() - t0
    assert out.returncode == 0 and '"running":true' in out.stdout.replace(" ", ""), (out.returncode, out.stdout, out.stderr)
    return dt

ping_latency()
idle = rss()

# 128 connections, each a 1 MiB frame one byte short. The daemon may refuse some
# (closing them): that is what a bound looks like from this side.
held, refused = [], 0
chunk = b"x" * (64 * 1024)
for i in range(128):
    try:
        s = connect(timeout=5)
        s.sendall(struct.pack("<I", MIB))
        left = MIB - 1
        while left:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
        held.append(s)
    except (OSError, EOFError):
        refused += 1

# One client pipelining small requests and never reading its replies. When the
# daemon stops reading from it, its sends block: the thread then just holds on.
req = frame('{"v":1,"type":"status"}')
sent = [0]
stop = threading.Event()
pipe = connect(timeout=2)
def pipeline():
    batch = req * 1000
    try:
        while sent[0] < 400000 and not stop.is_set():
            try:
                pipe.sendall(batch)
                sent[0] += 1000
            except TimeoutError:
                continue  # the daemon stopped reading: keep pushing until told to stop
    except OSError:
        pass
t = threading.Thread(target=pipeline, daemon=True)
t.start()
deadline = time.monotonic() + 30
while t.is_alive() and time.monotonic() < deadline and sent[0] < 400000:
    time.sleep(0.2)
    # Stop once the daemon has plainly stopped reading (no progress for a second).
    before = sent[0]
    time.sleep(1.0)
    if sent[0] == before:
        break

during = rss()
lat_ping = ping_latency()
lat_cli = cli_status_latency()
during2 = rss()

stop.set()
for s in held:
    s.close()
pipe.close()
t.join(10)
time.sleep(1.5)
ping_latency()
after = rss()

print("   held %d of 128 partial 1 MiB frames (%d refused); pipelined %d requests" % (len(held), refused, sent[0]))
print("   RSS idle %.1f MiB, during %.1f / %.1f MiB, after hang-up %.1f MiB" %
      (idle / MIB, during / MIB, during2 / MIB, after / MIB))
print("   status during the abuse: %.1f ms (socket), %.1f ms (kache daemon status)" % (lat_ping * 1000, lat_cli * 1000))
errors = []
if max(during, during2) - idle >= LIMIT_GROWTH:
    errors.append("RSS grew by %.1f MiB under abuse (limit 64)" % ((max(during, during2) - idle) / MIB))
if after - idle >= LIMIT_GROWTH:
    errors.append("RSS still %.1f MiB above idle after the clients hung up" % ((after - idle) / MIB))
if lat_ping >= LIMIT_LATENCY or lat_cli >= LIMIT_LATENCY:
    errors.append("a status request took %.0f / %.0f ms under abuse" % (lat_ping * 1000, lat_cli * 1000))
if errors:
    raise SystemExit("; ".join(errors))
EOF
kill -0 "$DAEMON_PID" || fail "kached died under abuse"

note "a connection that sends half a frame and stalls is closed after the idle timeout"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "idle connection"
import struct, time
s = connect(timeout=40)
s.sendall(struct.pack("<I", 100) + b'{"v":1,')
t0 = time.monotonic()
try:
    data = s.recv(1)
except ConnectionError:
    data = b""
dt = time.monotonic() - t0
assert data == b"", "the stalled connection got %r" % data
print("   closed after %.1f s" % dt)
assert dt < 35, "closed only after %.1f s" % dt
ping()
EOF

note "connections beyond the limit are refused; the daemon serves again once they go"
python3 "$IPC_PY" "$sock" <<'EOF' || fail "connection limit"
import socket, time
conns, refused = [], 0
for i in range(400):
    for attempt in range(50):
        try:
            conns.append(connect(timeout=5))
            break
        except BlockingIOError:  # the listen backlog is full: let the daemon accept
            time.sleep(0.02)
    else:
        refused += 1
time.sleep(0.5)
for s in conns:
    s.setblocking(False)
    try:
        s.recv(4096)  # an error reply or EOF: the daemon turned it away
        refused += 1
    except BlockingIOError:
        pass
    except ConnectionError:
        refused += 1
print("   %d of 400 connections refused" % refused)
assert refused >= 400 - 256, "only %d of 400 connections refused" % refused
for s in conns:
    s.close()
time.sleep(0.5)
ping()
EOF

note "the daemon survived it all"
kill -0 "$DAEMON_PID" || fail "kached died"
assert_eq "$(status_field pid)" "$DAEMON_PID" "the daemon's pid"
