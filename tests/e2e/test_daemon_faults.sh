#!/usr/bin/env bash
# The daemon and the remote under faults, on the small fixture and the real S3
# server (tests/s3) on 127.0.0.1:
#   1. kill -9 of the daemon while uploads are in flight (the server slowed by
#      the fault proxy), then a restart: every intent is uploaded, nothing is
#      lost, and a second machine builds everything from the remote;
#   2. no daemon running: builds succeed, local hits still work; the wrapper's
#      time on hits with a remote configured but no daemon able to start is
#      measured against no remote at all; a miss starts a daemon, which uploads;
#   3. the S3 server stopped in the middle of a build: the build succeeds, no
#      miss waits longer than the check deadline, hits never wait; the queue
#      drains once the server is back.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start_s3
start_fault_proxy
in_flight() { (( $(status_field uploads_in_flight) >= 1 )); }

# ---------------------------------------------------------------- 1. kill -9 mid-upload
note "1. machine A builds with the server slowed down (every reply 1.5 s late)"
machine a
use_remote "$PROXY_ENDPOINT"
daemon_start
echo delay_ms=1500 > "$PROXY_MODE"
ws_a=$(new_workspace a-ws)
KACHE_REMOTE_CHECK_TIMEOUT_MS=300 kcargo "$ws_a" build
entries=$(count_entries)
assert_ge "$entries" 8 "entries in A's store"
wait_until 20 in_flight || fail "no upload in flight after the build: $("$KACHE" daemon status --json)"
before=$(bucket_packs)
echo "   entries: $entries, packs in the bucket so far: $before, intents: $(intents)"

note "kill -9 of A's daemon while uploads are in flight"
kill -9 "$DAEMON_PID"
wait_until 10 pid_gone "$DAEMON_PID" || fail "kached survived kill -9"
left=$(intents)
assert_ge "$left" 1 "upload intents left by the killed daemon"
# The server may hold objects whose replies the proxy was still delaying: their
# replay meets an existing object (a conditional PUT's 412), which is success.
echo "   after kill -9: $(bucket_packs) packs and $(bucket_manifests) manifests of $entries in the bucket, $left intents on disk"

note "restart (server back to normal): every intent is replayed and uploaded"
: > "$PROXY_MODE"
daemon_start
wait_until 60 queue_drained || fail "the upload queue did not drain within 60 s: $("$KACHE" daemon status --json)"
assert_eq "$(bucket_packs)" "$entries" "packs in the bucket after the replay"
assert_eq "$(bucket_manifests)" "$entries" "manifests in the bucket after the replay"
assert_eq "$(intents)" 0 "upload-queue/ after the replay"
assert_eq "$(status_field uploaded)" "$left" "uploads after the restart (one per intent left)"
assert_eq "$(status_field upload_failures)" 0 "upload failures after the restart"

note "machine B (empty store, another path) builds everything from the remote"
machine b
daemon_start
ws_b=$(mkdir -p "$TEST_TMP/elsewhere" && new_workspace elsewhere/b-ws)
kcargo "$ws_b" build
assert_no_real_compiles "machine B after A's replayed uploads"
assert_app_baseline "$ws_b"
assert_eq "$(stats_field hits)" "$entries" "B's hits"
assert_eq "$(( $(stats_field remote_hits) + $(stats_field prefetched_hits) ))" "$entries" "B's remote + prefetched hits"
"$KACHE" daemon stop >/dev/null

# ---------------------------------------------------------------- 2. no daemon
note "2. no daemon, and none can start (a kache copy without kached): builds still hit locally"
machine a
"$KACHE" daemon stop >/dev/null
mkdir -p "$TEST_TMP/lonely"
cp "$KACHE" "$TEST_TMP/lonely/kache"
real_kache=$KACHE
rounds=3
since_remote=() since_none=()
hits_remote=$TEST_TMP/hits-remote-no-daemon.us hits_none=$TEST_TMP/hits-no-remote.us
: > "$hits_remote"; : > "$hits_none"
for round in $(seq $rounds); do
  # Alternating rounds, so that machine noise falls on both alike.
  pcargo "$ws_a" clean
  use_remote "$PROXY_ENDPOINT"
  t0=$(now_ms)
  KACHE=$TEST_TMP/lonely/kache kcargo "$ws_a" build
  t1=$(now_ms)
  assert_no_real_compiles "round $round: hits with a remote configured and no daemon"
  event_values "$t0" hit "$t1" >> "$hits_remote"
  pcargo "$ws_a" clean
  no_remote
  t2=$(now_ms)
  kcargo "$ws_a" build
  t3=$(now_ms)
  assert_no_real_compiles "round $round: hits with no remote"
  event_values "$t2" hit "$t3" >> "$hits_none"
  echo "   round $round: remote, no daemon $((t1 - t0)) ms; no remote $((t3 - t2)) ms"
done
assert_eq "$(status_field running)" false "no daemon may run after hits with a kache that cannot start one"
assert_app_baseline "$ws_a"
n_remote=$(wc -l < "$hits_remote") n_none=$(wc -l < "$hits_none")
assert_eq "$n_remote" $((rounds * entries)) "hits measured with a remote and no daemon"
assert_eq "$n_none" $((rounds * entries)) "hits measured with no remote"
med_remote=$(median < "$hits_remote") med_none=$(median < "$hits_none")
echo "   MEASURE wrapper_us of hits: median $med_remote (remote configured, no daemon) vs $med_none (no remote);" \
  "max $(maximum < "$hits_remote") vs $(maximum < "$hits_none"); n=$n_remote"
# Not a timing assertion, a sanity bound: a hit never waits for a daemon.
assert_le "$med_remote" 1000000 "median wrapper_us of hits with no daemon"

note "no daemon running, a miss: compiles at once, leaves an intent, starts a daemon that uploads it"
use_remote "$PROXY_ENDPOINT"
rm -f "$KACHE_CACHE_DIR/daemon.spawned" # the lonely kache's attempts count against the spawn rate limit
echo '// an edit' >> "$ws_a/app/src/main.rs"
since=$(now_ms)
KACHE_REMOTE_CHECK_TIMEOUT_MS=2000 kcargo "$ws_a" build
assert_compiled_set "app:fixture_app" "the edited crate only"
miss_us=$(event_values "$since" miss | maximum)
echo "   the miss's wrapper time: ${miss_us} us"
assert_le "$miss_us" 2000000 "wrapper_us of a miss with no daemon"
wait_until 15 test -S "$KACHE_CACHE_DIR/daemon.sock" || fail "the wrapper did not start a daemon"
wait_until 60 queue_drained || fail "the spawned daemon did not drain the queue: $("$KACHE" daemon status --json)"
assert_eq "$(bucket_packs)" $((entries + 1)) "packs after the spawned daemon's upload"
"$KACHE" daemon stop >/dev/null

# ---------------------------------------------------------------- 3. S3 stopped mid-build
note "3. machine C: the S3 server is stopped in the middle of a cold release build"
machine c
use_remote "$S3_ENDPOINT"
deadline_ms=1000
daemon_start
ws_c=$(new_workspace c-ws)
# A release build: nothing of it is on the remote, so every unit misses and asks
# the daemon, whose server is gone once the first unit (leaf's build script) is compiled.
since=$(now_ms)
E2E_SHIM_HOOK="bash '$S3_SCRIPTS/stop-s3-server.sh' '$S3_PIDFILE'" E2E_SHIM_HOOK_UNIT="leaf:build_script_build" \
  KACHE_REMOTE_CHECK_TIMEOUT_MS=$deadline_ms kcargo "$ws_c" build --release
assert_app "$ws_c" release "greeting=hello from data" "profile=release"
[[ ! -s $S3_PIDFILE ]] || fail "the hook did not stop the S3 server"
misses=$(event_values "$since" miss | wc -l)
assert_ge "$misses" 8 "misses in C's cold build"
max_miss=$(event_values "$since" miss | maximum)
echo "   $misses misses, wrapper_us median $(event_values "$since" miss | median), max $max_miss (deadline ${deadline_ms} ms)"
# The deadline plus room for the wrapper's own work (recording) on a loaded machine.
assert_le "$max_miss" $(( (deadline_ms + 1500) * 1000 )) "the slowest miss's wrapper time with the server gone"
# Once a check has found the server gone, the daemon answers the next ones at
# once: only the checks already under way when it went away wait for it.
slow=$(event_values "$since" miss | awk '$1 > 500000' | wc -l)
echo "   misses that waited more than 500 ms for the dead server: $slow of $misses"
assert_le "$slow" $(( $(nproc) + 2 )) "misses waiting for a remote already known to be down"
assert_eq "$(status_field running)" true "C's daemon after the server went away"
assert_ge "$(intents)" 1 "intents waiting while the server is down"
assert_ge "$(status_field upload_failures)" 1 "upload failures while the server is down"

note "local hits while the server is still down: no wait"
pcargo "$ws_c" clean
since=$(now_ms)
KACHE_REMOTE_CHECK_TIMEOUT_MS=$deadline_ms kcargo "$ws_c" build --release
assert_no_real_compiles "rebuild with the server down"
max_hit=$(event_values "$since" hit | maximum)
echo "   hits with the server down: median $(event_values "$since" hit | median) us, max $max_hit us"
assert_le "$max_hit" $(( deadline_ms * 1000 )) "a hit's wrapper time with the server down"

note "the server comes back (same port, same data): the queue drains"
start_s3 "$S3_PORT"
wait_until 90 queue_drained || fail "the queue did not drain within 90 s of the server's return: $("$KACHE" daemon status --json)"
echo "   drained: uploaded $(status_field uploaded), failures $(status_field upload_failures)"
