#!/usr/bin/env bash
# The bench workload (bench/make-workload.sh: ~100 crates from Debian's
# registry, 4 members, 33 build scripts, 7 proc-macros): cold build with kache,
# `cargo clean`, warm build with zero real compiles and the same program, then
# the workspace copied to another path builds with zero real compiles.
#
# KACHE_WORKLOAD_DIR=DIR reuses a workload generated earlier by
# make-workload.sh (its target/ is not used); otherwise the test generates one.
# Compiles that build scripts run themselves (feature probes: anyhow's and
# thiserror's through $RUSTC_WRAPPER, autocfg's from stdin) are not cargo's
# compiles and run on every build-script run: they are reported, not counted.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

w=$TEST_TMP/workload
get_workload "$w"

# kw_outputs DIR: what the program prints for a few deterministic commands.
kw_outputs() {
  local kw=$1/target/debug/kw
  [[ -x $kw ]] || fail "$kw missing"
  mkdir -p "$TEST_TMP/scan-input"
  printf 'alpha\n' > "$TEST_TMP/scan-input/a.txt"
  printf 'beta beta\n' > "$TEST_TMP/scan-input/b.txt"
  "$kw" version || fail "kw version failed"
  "$kw" synth --count 300 --seed 7 || fail "kw synth failed"
  (cd "$TEST_TMP" && "$kw" scan scan-input) | python3 -c '
import json, sys
recs = json.load(sys.stdin)
print(json.dumps(sorted(recs, key=lambda r: json.dumps(r, sort_keys=True)), sort_keys=True))
' || fail "kw scan failed"
}

note "cold build"
t0=$(date +%s)
kcargo "$w" build
t_cold=$(( $(date +%s) - t0 ))
cold=$(count_real_compiles)
echo "   cold: $cold real compiles, $(count_probe_compiles) build-script probe compiles, ${t_cold}s"
assert_ge "$cold" 100 "cold build of the workload: real compiles"
kw_outputs "$w" > "$TEST_TMP/cold.out"
cat "$TEST_TMP/cold.out" | head -5

note "warm build after cargo clean"
pcargo "$w" clean
t0=$(date +%s)
kcargo "$w" build
t_warm=$(( $(date +%s) - t0 ))
echo "   warm: ${t_warm}s, $(count_probe_compiles) build-script probe compiles"
assert_no_real_compiles "warm build of the workload after cargo clean"
kw_outputs "$w" > "$TEST_TMP/warm.out"
assert_same_file "$TEST_TMP/cold.out" "$TEST_TMP/warm.out" "kw prints something else after the warm build"

note "no-op build after the warm restore"
kcargo "$w" build
assert_file_not_contains "$LAST_ERR" 'Compiling ' "cargo rebuilt units right after a warm restore"

note "the workspace copied to another path"
w2=$TEST_TMP/elsewhere/copy-of-workload
copy_source "$w" "$w2"
t0=$(date +%s)
kcargo "$w2" build
t_other=$(( $(date +%s) - t0 ))
echo "   other path: ${t_other}s"
assert_no_real_compiles "build of the workload copied to another path"
kw_outputs "$w2" > "$TEST_TMP/other.out"
assert_same_file "$TEST_TMP/cold.out" "$TEST_TMP/other.out" "kw prints something else when built at another path"

echo "   summary: cold ${t_cold}s, warm ${t_warm}s, other path ${t_other}s"
