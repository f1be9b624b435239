#!/usr/bin/env bash
# The S3 fault matrix through the fault proxy (tests/s3/fault-proxy.py), on the small
# fixture. Machine A uploads everything; machine B gets it from the remote. Then, for each
# fault that every connection meets (down, reset, 503 SlowDown, 500, truncated replies)
# and once with the faults mixed at random:
#   - B edits its program and builds: the miss's remote check and its upload meet the
#     fault; the build succeeds with no kache warning and the program is right;
#   - an empty store runs `kache sync --pull` through the fault: it ends in bounded time,
#     without a crash, and nothing half-downloaded reached the store (`kache doctor
#     --verify` is clean).
# Once the faults are gone, B's upload queue drains without a restart, nothing lost and
# nothing duplicated. (A stalled remote is test_remote_stall's; kill -9 mid-transfer is
# test_daemon_faults' and test_kill_download's.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start_s3
start_fault_proxy
export KACHE_REMOTE_CHECK_TIMEOUT_MS=2000

note "machine A builds and uploads everything (no fault)"
machine_a_uploads "$PROXY_ENDPOINT"

note "machine B (empty store, another path) gets everything from the remote"
machine b
use_remote "$PROXY_ENDPOINT"
daemon_start
ws_b=$(mkdir -p "$TEST_TMP/elsewhere" && new_workspace elsewhere/b-ws)
kcargo "$ws_b" build
assert_no_real_compiles "B's build from the remote"
assert_app_baseline "$ws_b"

i=0
for faults in down reset=1 slowdown=1 error500=1 truncate=1 "reset=0.25 slowdown=0.25 error500=0.15 truncate=0.25"; do
  i=$((i + 1))
  tr ' ' '\n' <<<"$faults" > "$PROXY_MODE"
  note "fault '$faults': B edits its program and builds"
  machine b
  replace_in "$ws_b/app/src/main.rs" "fn main() {" "fn main() { let _edit$i = $i;"
  kcargo "$ws_b" build
  assert_compiled_set "app:fixture_app" "B's build after an edit under '$faults'"
  assert_app_baseline "$ws_b"

  note "fault '$faults': kache sync --pull into an empty store"
  machine "pull$i"
  rc=0
  t0=$(now_ms)
  (cd "$ws_b" && timeout 120 "$KACHE" sync --pull) >"$TEST_TMP/pull.out" 2>&1 || rc=$?
  t_pull=$(( $(now_ms) - t0 ))
  echo "   sync --pull: exit $rc after $t_pull ms, $(count_entries) of $entries entries: $(tail -n 1 "$TEST_TMP/pull.out")"
  [[ $rc != 124 ]] || fail "kache sync --pull under '$faults' did not end within 120 s"
  (( rc < 128 )) || fail "kache sync --pull under '$faults' died of signal $(( rc - 128 ))"
  [[ $faults == *=0* || $rc != 0 ]] || fail "kache sync --pull under '$faults' reported success: $(cat "$TEST_TMP/pull.out")"
  rc=0
  "$KACHE" doctor --verify --store-only >"$TEST_TMP/doctor.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "kache doctor --verify after the pull under '$faults' exited $rc: $(cat "$TEST_TMP/doctor.out")"
done

note "the faults are gone: B's queue drains without a restart"
: > "$PROXY_MODE"
machine b
wait_until 90 queue_drained || fail "B's queue did not drain within 90 s: $("$KACHE" daemon status --json)"
echo "   B: uploaded $(status_field uploaded), upload failures $(status_field upload_failures)"
assert_eq "$(bucket_packs)" $((entries + i)) "packs in the bucket (one more per edit, nothing duplicated)"
assert_eq "$(bucket_manifests)" $((entries + i)) "manifests in the bucket"
"$KACHE" daemon stop >/dev/null
