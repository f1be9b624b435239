# Helpers for the end-to-end tests of kached and the remote: a loopback S3
# server, a fault proxy in front of it, daemons per "machine", and a tiny IPC
# client. Source it after lib.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
#
#   start_s3                 starts tests/s3/start-s3-server.sh on 127.0.0.1 with its
#                            data in $TEST_TMP/s3; sets S3_ENDPOINT, S3_BUCKET, S3_PORT,
#                            AWS_* and S3_BUCKET_DIR (where the objects land on disk)
#   stop_s3                  stops it (the data stays)
#   start_fault_proxy        a tests/s3/fault-proxy.py in front of it; sets PROXY_ENDPOINT,
#                            PROXY_MODE (the mode file: echo delay_ms=300 > "$PROXY_MODE")
#   use_remote ENDPOINT      exports KACHE_S3_BUCKET and KACHE_S3_ENDPOINT for what follows
#   machine NAME             exports KACHE_CACHE_DIR=$TEST_TMP/NAME/cache (mode 0700)
#
# Every kached whose environment names this test's TEST_TMP (started by a test
# or spawned by a wrapper) is stopped when the test exits, as is the S3 server.

KACHED_BIN=${KACHED_BIN:-$(dirname "$KACHE")/../kached/kached}
[[ -x $KACHED_BIN ]] || KACHED_BIN=$(dirname "$KACHE")/kached
[[ -x $KACHED_BIN ]] || fail "kached not found beside $KACHE"
S3_SCRIPTS=$KACHE_SOURCE_ROOT/tests/s3
S3_PIDFILE=
PROXY_PID=

# ---------------------------------------------------------------- cleanup

# test_daemon_pids: PIDs of the kached processes of this test (found by the
# TEST_TMP in their environment, so wrapper-spawned daemons are found too).
test_daemon_pids() {
  local p
  for p in /proc/[0-9]*; do
    [[ $(cat "$p/comm" 2>/dev/null) == kached ]] || continue
    { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qE "^(KACHE_CACHE_DIR|KACHE_SOCKET_PATH)=$TEST_TMP/" &&
      echo "${p#/proc/}"
  done
  return 0
}

_daemon_cleanup() {
  local rc=$? pid
  for pid in $(test_daemon_pids); do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do [[ -z $(test_daemon_pids) ]] && break; sleep 0.1; done
  for pid in $(test_daemon_pids); do kill -KILL "$pid" 2>/dev/null || true; done
  [[ -z $PROXY_PID ]] || kill "$PROXY_PID" 2>/dev/null || true
  [[ -z $S3_PIDFILE ]] || bash "$S3_SCRIPTS/stop-s3-server.sh" "$S3_PIDFILE" 2>/dev/null || true
  set +e # under set -e the next line would end the trap before lib.sh's cleanup runs
  (exit "$rc")
  _cleanup
}
trap _daemon_cleanup EXIT

# ---------------------------------------------------------------- S3

# start_s3 [PORT]: starts the loopback server (data in $TEST_TMP/s3), on PORT if given.
# Where the server cannot run (no node or npm, or no way to install it) the test is
# skipped (exit 77, see require_s3_server in lib.sh); any other failure to start fails it.
start_s3() {
  require_s3_server
  local port=${1:-0} env_file=$TEST_TMP/s3.env rc=0
  bash "$S3_SCRIPTS/start-s3-server.sh" --prefix "$KACHE_BUILD_ROOT/s3-server" --data "$TEST_TMP/s3" \
    --bucket kache-test --port "$port" >"$env_file" 2>"$TEST_TMP/s3-start.err" || rc=$?
  [[ $rc -ne 77 ]] || skip "the loopback S3 server cannot run here: $(tail -n 1 "$TEST_TMP/s3-start.err")"
  [[ $rc -eq 0 ]] || fail "the S3 server did not start: $(tail -5 "$TEST_TMP/s3-start.err")"
  # shellcheck disable=SC1090
  source "$env_file"
  S3_PIDFILE=$S3_SERVER_PIDFILE
  S3_PORT=${S3_ENDPOINT##*:}
  S3_BUCKET_DIR=$S3_SERVER_DATA/$S3_BUCKET
}

stop_s3() {
  bash "$S3_SCRIPTS/stop-s3-server.sh" "$S3_PIDFILE"
}

# start_fault_proxy: a fault proxy in front of the S3 server (mode file starts empty: forward).
start_fault_proxy() {
  PROXY_MODE=$TEST_TMP/proxy.mode
  : > "$PROXY_MODE"
  rm -f "$TEST_TMP/proxy.port"
  python3 "$S3_SCRIPTS/fault-proxy.py" --upstream "${S3_ENDPOINT#http://}" --mode-file "$PROXY_MODE" \
    --port-file "$TEST_TMP/proxy.port" >/dev/null 2>"$TEST_TMP/proxy.log" &
  PROXY_PID=$!
  for _ in $(seq 100); do [[ -s $TEST_TMP/proxy.port ]] && break; sleep 0.05; done
  [[ -s $TEST_TMP/proxy.port ]] || fail "the fault proxy did not start: $(cat "$TEST_TMP/proxy.log")"
  PROXY_ENDPOINT=http://127.0.0.1:$(cat "$TEST_TMP/proxy.port")
}

use_remote() {
  export KACHE_S3_BUCKET=$S3_BUCKET KACHE_S3_ENDPOINT=$1
}

no_remote() {
  unset KACHE_S3_BUCKET KACHE_S3_ENDPOINT KACHE_REMOTE_DIR
}

# bucket_packs / bucket_manifests: objects in the bucket, counted on the server's disk.
bucket_packs() {
  if [[ -d $S3_BUCKET_DIR/v1/packs ]]; then
    find "$S3_BUCKET_DIR/v1/packs" -name '*.pack._S3rver_object' | wc -l
  else
    echo 0
  fi
}
bucket_manifests() {
  if [[ -d $S3_BUCKET_DIR/v1/manifests ]]; then
    find "$S3_BUCKET_DIR/v1/manifests" -name '*._S3rver_object' | wc -l
  else
    echo 0
  fi
}

# packs_missing: entries of the current store with no pack of their K2 in the bucket.
packs_missing() {
  local f k2 n=0
  while IFS= read -r -d '' f; do
    k2=$(basename "$(dirname "$f")")$(basename "$f")
    [[ -n $(find "$S3_BUCKET_DIR/v1/packs" -name "$k2.pack._S3rver_object" 2>/dev/null) ]] || n=$((n + 1))
  done < <(find "$KACHE_CACHE_DIR/entries" -type f -print0 2>/dev/null)
  echo "$n"
}

# ---------------------------------------------------------------- machines and daemons

# machine NAME: switches to the store of "machine" NAME (its own cache dir and daemon).
machine() {
  mkdir -p "$TEST_TMP/$1"
  mkdir -p -m 700 "$TEST_TMP/$1/cache"
  export KACHE_CACHE_DIR=$TEST_TMP/$1/cache
}

# intents: upload intents waiting in the current machine's store.
intents() {
  if [[ -d $KACHE_CACHE_DIR/upload-queue ]]; then
    find "$KACHE_CACHE_DIR/upload-queue" -type f ! -name '.*' | wc -l
  else
    echo 0
  fi
}

# status_field NAME: one field of `kache daemon status --json` for the current machine.
status_field() {
  local json rc=0
  # Exit 3 means no daemon runs: the JSON still says so (running false, pid 0).
  json=$("$KACHE" daemon status --json) || rc=$?
  [[ $rc -eq 0 || $rc -eq 3 ]] || fail "kache daemon status --json failed (exit $rc)"
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if sys.argv[2] not in d:
    sys.exit("key %r missing from kache daemon status --json: %s" % (sys.argv[2], sys.argv[1]))
v = d[sys.argv[2]]
print(str(v).lower() if isinstance(v, bool) else v)
' "$json" "$1" || fail "kache daemon status --json: cannot read '$1' from $json"
}

# daemon_start: `kache daemon start` for the current machine; sets DAEMON_PID.
daemon_start() {
  "$KACHE" daemon start >"$TEST_TMP/daemon-start.out" 2>&1 || fail "kache daemon start failed: $(cat "$TEST_TMP/daemon-start.out")"
  DAEMON_PID=$(status_field pid)
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s; returns 1 on timeout.
wait_until() {
  local limit=$1 t0=$SECONDS
  shift
  until "$@"; do
    (( SECONDS - t0 < limit )) || return 1
    sleep 0.1
  done
}

pid_gone() { ! kill -0 "$1" 2>/dev/null; }
queue_drained() { [[ $(intents) == 0 ]] && [[ $(status_field pending_uploads) == 0 ]]; }

# ipc_script: a python3 client for the daemon's socket, for frames kache would never send.
# Usage: python3 "$IPC_PY" SOCKET <<<'python statements using call(), raw(), ping()'
IPC_PY=$TEST_TMP/ipc_client.py
cat >"$IPC_PY" <<'EOF'
import json, socket, struct, sys

SOCK = sys.argv[1]

def connect(timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(SOCK)
    return s

def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("the daemon closed the connection after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf

def read_reply(s):
    (n,) = struct.unpack("<I", read_exact(s, 4))
    return json.loads(read_exact(s, n))

def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<I", len(payload)) + payload

def call(obj_or_text, s=None):
    """Sends one frame (a dict is JSON-encoded) and returns the decoded reply."""
    own = s is None
    s = s or connect()
    try:
        text = obj_or_text if isinstance(obj_or_text, (str, bytes)) else json.dumps(obj_or_text)
        s.sendall(frame(text))
        return read_reply(s)
    finally:
        if own:
            s.close()

def ping():
    r = call({"v": 1, "type": "ping"})
    assert r.get("ok") is True, r
    return r

exec(sys.stdin.read())
EOF

# now_ms: the clock the event log uses (ms since the epoch).
now_ms() { date +%s%3N; }

# event_values SINCE_MS OUTCOME [UNTIL_MS]: wrapper_us of the current machine's
# events with this outcome logged from SINCE_MS (until UNTIL_MS), one per line.
event_values() {
  events_json | python3 -c '
import json, sys
since, outcome, until = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for e in json.load(sys.stdin):
    if since <= e["ts_ms"] < until and e["outcome"] == outcome:
        print(e["wrapper_us"])
' "$1" "$2" "${3:-99999999999999}"
}

# median / maximum of numbers on stdin ("-" if none).
median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print v[(NR+1)/2]; else print int((v[NR/2]+v[NR/2+1])/2)}'; }
maximum() { sort -n | tail -1 | grep . || echo -; }

# machine_a_uploads ENDPOINT: machine A (its own store and daemon) builds the small
# fixture through the remote at ENDPOINT and waits until every entry is in the bucket,
# then stops its daemon. Sets ws_a (A's workspace) and entries (A's entry count).
machine_a_uploads() {
  machine a
  use_remote "$1"
  daemon_start
  ws_a=$(new_workspace a-ws)
  kcargo "$ws_a" build
  entries=$(count_entries)
  assert_ge "$entries" 8 "entries in A's store"
  wait_until 60 queue_drained || fail "A's uploads did not drain: $("$KACHE" daemon status --json)"
  assert_eq "$(bucket_packs)" "$entries" "packs in the bucket"
  "$KACHE" daemon stop >/dev/null
}
