#!/usr/bin/env bash
# Two builds of the same workspace run at once into one store: both succeed
# with correct programs, each unit is compiled once (the other build waits for
# it and restores it: DESIGN.md, "Concurrent wrappers for the same key"), and
# the store is sound afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ref=$(new_workspace ref)
a=$(new_workspace a)
b=$(new_workspace b)

note "reference: how many units one cold build compiles, and how many of them"
note "a build at another path compiles again (path portability is test_other_path's business)"
ref2=$(new_workspace ref2)
KACHE_CACHE_DIR=$TEST_TMP/cache-ref kcargo "$ref" build
units=$(count_real_compiles)
assert_ge "$units" 8 "reference cold build"
KACHE_CACHE_DIR=$TEST_TMP/cache-ref kcargo "$ref2" build
unportable=$(count_real_compiles)
echo "   units: $units, of which compiled again at another path: $unportable"

# both_builds TAG: builds a and b at the same time; sets total to the number
# of real compiles of both together.
both_builds() {
  local tag=$1
  : > "$COMPILE_LOG"
  (cd "$a" && RUSTC_WRAPPER=$KACHE cargo build) >"$TEST_TMP/$tag-a.out" 2>"$TEST_TMP/$tag-a.err" &
  local pa=$!
  (cd "$b" && RUSTC_WRAPPER=$KACHE cargo build) >"$TEST_TMP/$tag-b.out" 2>"$TEST_TMP/$tag-b.err" &
  local pb=$!
  local ra=0 rb=0
  wait $pa || ra=$?
  wait $pb || rb=$?
  LAST_CMD="two concurrent cargo builds ($tag)"; LAST_ERR=$TEST_TMP/$tag-b.err
  [[ $ra == 0 ]] || { cat "$TEST_TMP/$tag-a.err" >&2; fail "$tag: concurrent build of a failed (exit $ra)"; }
  [[ $rb == 0 ]] || { cat "$TEST_TMP/$tag-b.err" >&2; fail "$tag: concurrent build of b failed (exit $rb)"; }
  if grep -h 'kache: warning' "$TEST_TMP/$tag-a.err" "$TEST_TMP/$tag-b.err"; then
    fail "$tag: kache warned during concurrent builds"
  fi
  total=$(count_real_compiles)
  echo "   $tag: real compiles of both builds together: $total ($(compiled_units | tr '\n' ' '))"
}

note "two cold builds at once into an empty store"
both_builds cold
assert_app_baseline "$a"
assert_app_baseline "$b"
assert_ge "$total" "$units" "cold concurrent builds: every unit compiled at least once"
assert_le "$total" "$(( units + unportable ))" "cold concurrent builds: a unit was compiled by both builds instead of one waiting for the other and restoring (allowed: $units units + $unportable that miss at another path anyway)"

note "two warm builds at once after cargo clean"
pcargo "$a" clean
pcargo "$b" clean
both_builds warm
assert_eq "$total" 0 "warm concurrent builds: real compiles"

assert_app_baseline "$a"
assert_app_baseline "$b"

note "the store is sound: a sequential warm build is served and correct"
pcargo "$a" clean
kcargo "$a" build
assert_no_real_compiles "sequential warm build after the concurrent ones"
assert_app_baseline "$a"
