#!/usr/bin/env bash
# Two machines share the real S3 server on 127.0.0.1 through their daemons
# (DESIGN.md, "Wrapper and daemon"), on the bench workload:
#   machine A builds it cold with the remote configured (its time is logged
#   beside a build with no remote: no timing is asserted); its daemon's queue
#   drains (`kache daemon status --json`: pending_uploads 0) and every entry is
#   in the bucket (the server's data directory and `kache sync --dry-run`);
#   A's warm local rebuild after `cargo clean` is timed;
#   machine B (its own empty store and daemon) builds the same workload at
#   another path with zero real compiler runs: everything comes from remote
#   checks and prefetch (`kache stats --json`).
# Real compiler runs are counted by a rustc shim that logs its parent process:
# only compiles that kache started count (autocfg's probes call rustc directly).
#
# KACHE_WORKLOAD_DIR=DIR reuses a workload made by bench/make-workload.sh.
# E2E_REMOTE_BASELINE=1 adds a third cold build with no remote (on a third
# store) so that A's time can be set against it in one run.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
require_s3_server # skip at once where the S3 server cannot run, before the long build

w_a=$TEST_TMP/machine-a/src/workload
get_workload "$w_a"
w_b=$TEST_TMP/machine-b/elsewhere/checkout
copy_source "$w_a" "$w_b"

# A shim in front of lib.sh's: logs "<parent's comm> <package>:<crate>" for every
# compile (not cargo's ___ probes), then runs the counting shim.
PARENT_LOG=$TEST_TMP/parents.log
mkdir -p "$TEST_TMP/pshim"
cat >"$TEST_TMP/pshim/rustc" <<EOF
#!/usr/bin/env bash
crate= prev=
for a in "\$@"; do
  [[ \$prev == --crate-name ]] && crate=\$a
  [[ \$a == --crate-name=* ]] && crate=\${a#--crate-name=}
  prev=\$a
done
if [[ -n \$crate && \$crate != *___* ]]; then
  echo "\$(cat /proc/\$PPID/comm 2>/dev/null || echo '?') \${CARGO_PKG_NAME:-?}:\$crate" >> '$PARENT_LOG'
fi
exec '$RUSTC' "\$@"
EOF
chmod +x "$TEST_TMP/pshim/rustc"
export RUSTC=$TEST_TMP/pshim/rustc
kache_compiles() { { grep -c '^kache ' "$PARENT_LOG" || true; }; }
other_compiles() { { grep -vc '^kache ' "$PARENT_LOG" || true; }; }

# build DIR: kcargo build with the parent log reset; sets secs (wall time, 0.1 s).
build() {
  : > "$PARENT_LOG"
  local t0
  t0=$(now_ms)
  kcargo "$1" build
  secs=$(python3 -c "print('%.1f' % (($(now_ms) - $t0) / 1000))")
  echo "   compiles started by kache: $(kache_compiles), by others (build scripts' own probes): $(other_compiles)"
}

start_s3
use_remote "$S3_ENDPOINT"

note "machine A: cold build with the remote configured"
machine a
daemon_start
build "$w_a"
t_a=$secs
assert_ge "$(kache_compiles)" 100 "A's cold build: compiles started by kache"
entries=$(count_entries)
echo "   A: ${t_a}s cold, $entries entries; kache's own time on misses: median $(event_values 0 miss | median) us, total $(event_values 0 miss | awk "{s+=\$1} END {print int(s/1000)}") ms"
"$w_a/target/debug/kw" version > "$TEST_TMP/a.version" || fail "kw version (A)"
"$w_a/target/debug/kw" synth --count 200 --seed 7 > "$TEST_TMP/a.synth" || fail "kw synth (A)"

if [[ ${E2E_REMOTE_BASELINE:-0} == 1 ]]; then
  note "baseline: the same cold build with no remote (a third store)"
  w_base=$TEST_TMP/machine-base/workload
  copy_source "$w_a" "$w_base"
  (
    machine base
    no_remote
    build "$w_base"
    echo "   MEASURE cold build: A with the remote ${t_a}s, no remote ${secs}s"
  )
else
  echo "   (no-remote baseline not run here: test_workload's cold build is that number; E2E_REMOTE_BASELINE=1 runs it)"
fi

note "A's daemon drains its queue and the bucket holds every entry"
t0=$(now_ms)
wait_until 60 queue_drained || fail "pending uploads after 60 s: $("$KACHE" daemon status --json)"
echo "   queue drained $(( $(now_ms) - t0 )) ms after the build; status: uploaded $(status_field uploaded), failures $(status_field upload_failures)"
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$1/stat"; }
echo "   CPU used so far: A's daemon $(cpu_s "$DAEMON_PID") s, the S3 server $(cpu_s "$S3_SERVER_PID") s (on this machine, beside the compiler)"
assert_eq "$(status_field pending_uploads)" 0 "pending_uploads"
assert_eq "$(status_field uploads_in_flight)" 0 "uploads_in_flight"
assert_eq "$(intents)" 0 "intents in A's upload-queue/"
assert_eq "$(bucket_packs)" "$entries" "packs in the bucket (server data directory)"
assert_eq "$(bucket_manifests)" "$entries" "manifests in the bucket (server data directory)"
"$KACHE" sync --dry-run >"$TEST_TMP/sync.out" 2>&1 || fail "kache sync --dry-run: $(cat "$TEST_TMP/sync.out")"
echo "   kache sync --dry-run: $(tail -1 "$TEST_TMP/sync.out")"
assert_file_contains "$TEST_TMP/sync.out" 'would have 0 pushed' "kache sync --dry-run after the drain: nothing left to push"

note "machine A: warm local rebuild after cargo clean"
pcargo "$w_a" clean
build "$w_a"
t_a_warm=$secs
assert_eq "$(kache_compiles)" 0 "A's warm rebuild: compiles started by kache"

note "machine B: empty store, another path, its own daemon: everything from the remote"
machine b
daemon_start
build "$w_b"
t_b=$secs
assert_eq "$(kache_compiles)" 0 "B's build: compiles started by kache ($(grep '^kache ' "$PARENT_LOG" | head -5 | tr '\n' ' '))"
assert_no_real_compiles "B's build (lib.sh's count)"
hits=$(stats_field hits) remote=$(stats_field remote_hits) prefetched=$(stats_field prefetched_hits)
echo "   B: ${t_b}s; hits $hits (remote $remote, prefetched $prefetched, local $(stats_field local_hits)), misses $(stats_field misses)"
assert_eq "$(stats_field misses)" 0 "B's misses"
assert_ge "$hits" 100 "B's hits"
assert_eq "$((remote + prefetched))" "$hits" "B's hits from remote checks and prefetch"
assert_ge "$prefetched" 1 "B's prefetched hits"
assert_ge "$(status_field prefetched)" 1 "B's daemon: prefetched entries"
"$w_b/target/debug/kw" version > "$TEST_TMP/b.version" || fail "kw version (B)"
"$w_b/target/debug/kw" synth --count 200 --seed 7 > "$TEST_TMP/b.synth" || fail "kw synth (B)"
assert_same_file "$TEST_TMP/a.version" "$TEST_TMP/b.version" "kw version differs between A and B"
assert_same_file "$TEST_TMP/a.synth" "$TEST_TMP/b.synth" "kw synth differs between A and B"

ratio=$(python3 -c "print('%.2f' % ($t_b / max($t_a_warm, 0.1)))")
echo "   MEASURE A cold ${t_a}s; A warm local ${t_a_warm}s; B from the remote ${t_b}s; B / A-warm = $ratio"
