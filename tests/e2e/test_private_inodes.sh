#!/usr/bin/env bash
# No two target dirs share an inode (DESIGN.md, "The local store"): one workspace
# built into two target dirs against one store. Tree B restoring from the store
# must not touch tree A's files (a fresh mtime on a shared inode would make cargo
# rebuild A's dependents, and a reader holding A's file open would see it change);
# alternating builds in A and B then dispatch nothing. Two builds started together
# on distinct target dirs against an empty store compile each unit once in total
# and converge: a following build of each is a no-op.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

# build_tree TARGET_DIR: `cargo build -v` of the workspace into TARGET_DIR.
build_tree() {
  local target=$1
  CARGO_TARGET_DIR=$target kcargo "$ws" build -v
}

# assert_noop_build MESSAGE: the last cargo command ran no compiler and no build
# script: every unit was Fresh.
assert_noop_build() {
  assert_no_real_compiles "$1"
  assert_file_not_contains "$LAST_ERR" '^ *(Compiling|Running|Dirty) ' "$1: cargo dispatched work"
  assert_file_contains "$LAST_ERR" '^ *Fresh leaf ' "$1: cargo -v reports fresh units"
}

# miss_events: miss events in the store's event log.
miss_events() {
  events_json | python3 -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e.get("outcome") == "miss"))'
}

# inodes DIR: the inode numbers of every regular file below DIR, one a line, sorted.
inodes() { find "$1" -type f -printf '%i\n' | sort -u; }

# assert_private_trees A B: no regular file of A shares an inode with one of B.
assert_private_trees() {
  local shared
  shared=$(comm -12 <(inodes "$1") <(inodes "$2") | head -5 | tr '\n' ' ')
  [[ -z $shared ]] || fail "target dirs ${1#$TEST_TMP/} and ${2#$TEST_TMP/} share inodes: $shared"
}

ta=$TEST_TMP/target-a
tb=$TEST_TMP/target-b

note "tree A: cold build (records; outputs are linked into the store)"
build_tree "$ta"
units=$(count_real_compiles)
assert_ge "$units" 6 "cold build of tree A"
[[ -x $ta/debug/fixture-app ]] || fail "tree A has no program"

rlib=$(find "$ta/debug/deps" -name 'libleaf-*.rlib' | head -1)
[[ -n $rlib ]] || fail "no leaf rlib in tree A"
before=$(stat -c '%i %s %.9Y' "$rlib")
exec 3<"$rlib" # a reader (say, a linker) holding A's rlib open
[[ $(stat -L -c '%i' /proc/$$/fd/3) == "${before%% *}" ]] || fail "cannot hold tree A's rlib open"

note "tree B: the same workspace into another target dir, restored from the store"
build_tree "$tb"
assert_no_real_compiles "tree B restores every unit from the store"
[[ -x $tb/debug/fixture-app ]] || fail "tree B has no program"
assert_eq "$(stat -c '%i %s %.9Y' "$rlib")" "$before" "tree A's rlib (inode size mtime) after tree B restored"
assert_eq "$(stat -L -c '%i %s %.9Y' /proc/$$/fd/3)" "$before" "tree A's rlib as its open reader sees it"
rlib_b=$tb/debug/deps/$(basename "$rlib")
[[ -f $rlib_b ]] || fail "tree B has no $(basename "$rlib")"
assert_ne "$(stat -c '%i' "$rlib_b")" "${before%% *}" "tree B's rlib has tree A's inode"
assert_private_trees "$ta" "$tb"
exec 3<&-

note "alternating builds in A and B dispatch nothing"
events_before=$(events_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
for round in 1 2; do
  build_tree "$ta"
  assert_noop_build "round $round, tree A"
  build_tree "$tb"
  assert_noop_build "round $round, tree B"
done
events_after=$(events_json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
assert_eq "$events_after" "$events_before" "kache invocations during the alternating no-op builds"
assert_eq "$(stat -c '%i %s %.9Y' "$rlib")" "$before" "tree A's rlib after the alternating builds"

note "a tree restored again (after a clean) still shares no inode with the other"
rm -rf "$ta"
build_tree "$ta"
assert_no_real_compiles "tree A rebuilt from the store"
assert_private_trees "$ta" "$tb"
build_tree "$tb"
assert_noop_build "tree B after tree A was restored again"
assert_app_baseline_in() { local out; out=$("$1/debug/fixture-app"); [[ $out == "$FIXTURE_BASELINE" ]] || fail "program in ${1#$TEST_TMP/} prints: $out"; }
assert_app_baseline_in "$ta"
assert_app_baseline_in "$tb"

note "two builds started together on distinct target dirs, empty store"
export KACHE_CACHE_DIR=$TEST_TMP/cache-2
tc=$TEST_TMP/target-c
td=$TEST_TMP/target-d
: > "$COMPILE_LOG"
(cd "$ws" && CARGO_TARGET_DIR=$tc RUSTC_WRAPPER=$KACHE cargo build) >"$TEST_TMP/c.out" 2>"$TEST_TMP/c.err" &
pc=$!
(cd "$ws" && CARGO_TARGET_DIR=$td RUSTC_WRAPPER=$KACHE cargo build) >"$TEST_TMP/d.out" 2>"$TEST_TMP/d.err" &
pd=$!
rc=0 rd=0
wait $pc || rc=$?
wait $pd || rd=$?
LAST_CMD="two concurrent cargo builds"; LAST_ERR=$TEST_TMP/d.err
[[ $rc == 0 ]] || { cat "$TEST_TMP/c.err" >&2; fail "concurrent build into target-c failed (exit $rc)"; }
[[ $rd == 0 ]] || fail "concurrent build into target-d failed (exit $rd)"
if grep -h 'kache: warning' "$TEST_TMP/c.err" "$TEST_TMP/d.err"; then fail "kache warned during the concurrent builds"; fi
total=$(count_real_compiles)
echo "   real compiles of both builds together: $total ($(compiled_units | tr '\n' ' ')); misses: $(miss_events)"
assert_eq "$total" "$units" "concurrent cold builds: real compiles of both together (each unit once)"
assert_eq "$(miss_events)" "$units" "concurrent cold builds: miss events"
assert_private_trees "$tc" "$td"

note "a following build of each is a no-op"
build_tree "$tc"
assert_noop_build "tree C after the concurrent builds"
build_tree "$td"
assert_noop_build "tree D after the concurrent builds"
assert_app_baseline_in "$tc"
assert_app_baseline_in "$td"
