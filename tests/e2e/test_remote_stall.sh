#!/usr/bin/env bash
# A stalled S3 remote (the fault proxy accepts and never answers), on the small
# fixture and the real loopback S3 server:
#   a. a cold build costs at most about one remote-check deadline more than a
#      build without a remote: after one check runs past the deadline the daemon
#      answers "remote unavailable" at once (the later misses do not wait), and
#      once the stall ends a background probe brings the remote back;
#   b. with uploads in flight to the stalled remote, `kache daemon stop` returns
#      within 10 s, the daemon is gone, the intents stay, and they are uploaded
#      after the remote recovers and the daemon starts again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start_s3
start_fault_proxy
export KACHE_REMOTE_CHECK_TIMEOUT_MS=3000
deadline_ms=$KACHE_REMOTE_CHECK_TIMEOUT_MS
# Generous: two cores shared with other builds make cold-build times noisy.
margin_ms=3000

# check_k1 HEX: one remote check sent straight to the current machine's daemon;
# prints "<ms> <ok> <error>".
check_k1() {
  python3 "$IPC_PY" "$(status_field socket)" <<PY
import time
t0 = time.monotonic()
s = connect(timeout=8)
r = call({"v": 1, "type": "check", "k1": "$1", "crate": "stallprobe", "version": "0.1.0"}, s)
print(int((time.monotonic() - t0) * 1000), r.get("ok"), r.get("error", ""))
PY
}
k1_a=$(printf "a%.0s" $(seq 32))
k1_b=$(printf "b%.0s" $(seq 32))
in_flight() { (( $(status_field uploads_in_flight) >= 1 )); }

# ---------------------------------------------------------------- a. checks under a stall
note "a. baseline: a cold build without a remote"
machine base
no_remote
ws_base=$(new_workspace base-ws)
t0=$(now_ms); kcargo "$ws_base" build; t_none=$(( $(now_ms) - t0 ))

note "a. a cold build with the remote stalled (every new connection accepted, never answered)"
machine a
use_remote "$PROXY_ENDPOINT"
daemon_start
echo stall=1 > "$PROXY_MODE"
ws_a=$(new_workspace a-ws)
since=$(now_ms)
t0=$(now_ms); kcargo "$ws_a" build; t_stall=$(( $(now_ms) - t0 ))
assert_app_baseline "$ws_a"
misses=$(event_values "$since" miss | wc -l)
waited=$(event_values "$since" miss | awk -v d=$(( deadline_ms * 1000 / 2 )) '$1 >= d' | wc -l)
at_once=$(event_values "$since" miss | awk '$1 < 1000000' | wc -l)
echo "   cold build: ${t_none} ms without a remote, ${t_stall} ms with it stalled (deadline ${deadline_ms} ms);" \
     "misses: $misses, waited over half a deadline: $waited, answered within 1 s: $at_once"
echo "   wrapper time of each miss (us): $(event_values "$since" miss | tr '\n' ' ')"
assert_ge "$misses" 6 "misses in the stalled cold build"
assert_le "$t_stall" $(( t_none + deadline_ms + margin_ms )) "cold build ms under a stall (no remote: $t_none ms)"
# Two cargo jobs at once: at most the checks running when the first deadline passed waited.
assert_le "$waited" 2 "misses that waited for the stalled remote"
assert_ge "$at_once" $(( misses - 2 )) "misses answered 'remote unavailable' at once"
assert_file_contains "$(status_field log_file)" "remote unavailable" "daemon log"

read -r ms ok err < <(check_k1 "$k1_a") || fail "the check request got no reply"
echo "   a check while stalled: ${ms} ms, ok=$ok: $err"
assert_le "$ms" 1000 "ms for a check while the remote is unavailable"
[[ $err == *unavailable* ]] || fail "a check while stalled was not answered 'remote unavailable': $err"

note "a. the stall ends: a probe brings the remote back, checks ask it again"
: > "$PROXY_MODE"
back() {
  read -r ms ok err < <(check_k1 "$k1_b") || return 1
  [[ $ok == True && -z $err ]]
}
t0=$(now_ms)
wait_until 40 back || fail "the remote was not checked again within 40 s of the stall ending: ${ms:-?} ms, ok=${ok:-?}: ${err:-?}"
echo "   the remote answered checks again $(( $(now_ms) - t0 )) ms after the stall ended (last check ${ms} ms)"
assert_file_contains "$(status_field log_file)" "remote available again" "daemon log"
"$KACHE" daemon stop >/dev/null

# ---------------------------------------------------------------- b. stop under a stall
note "b. uploads in flight to a stalled remote, then kache daemon stop"
machine b
use_remote "$PROXY_ENDPOINT"
daemon_start
pid=$DAEMON_PID
echo stall=1 > "$PROXY_MODE"
ws_b=$(new_workspace b-ws)
KACHE_REMOTE_CHECK_TIMEOUT_MS=300 kcargo "$ws_b" build
entries=$(count_entries)
wait_until 20 in_flight || fail "no upload in flight after the build: $("$KACHE" daemon status --json)"
t0=$(now_ms)
rc=0; timeout 30 "$KACHE" daemon stop >"$TEST_TMP/stop.out" 2>&1 || rc=$?
t_stop=$(( $(now_ms) - t0 ))
echo "   kache daemon stop: exit $rc after ${t_stop} ms: $(cat "$TEST_TMP/stop.out")"
assert_eq "$rc" 0 "kache daemon stop's exit status"
assert_le "$t_stop" 10000 "ms for kache daemon stop with the remote stalled"
wait_until 1 pid_gone "$pid" || fail "kached (pid $pid) still runs after kache daemon stop returned"
left=$(intents)
assert_eq "$left" "$entries" "upload intents kept by the stopped daemon"

note "b. the remote recovers, the daemon starts again: every intent is uploaded"
: > "$PROXY_MODE"
daemon_start
wait_until 60 queue_drained || fail "the intents were not replayed within 60 s: $("$KACHE" daemon status --json)"
# Every entry of B is on the remote, and nothing twice. The bucket also holds what A
# uploaded in part a: the same keys, except where B's local compiles gave other bytes
# (incremental compiles are not byte-for-byte repeatable, so a binary that links them
# gets another input set), so the counts are at least B's.
assert_eq "$(packs_missing)" 0 "B's entries without a pack in the bucket after the replay"
assert_ge "$(bucket_packs)" "$entries" "packs in the bucket after the replay"
assert_eq "$(bucket_manifests)" "$(bucket_packs)" "manifests in the bucket after the replay (one per pack)"
"$KACHE" daemon stop >/dev/null
