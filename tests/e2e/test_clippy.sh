#!/usr/bin/env bash
# `cargo clippy` is cached: a warm clippy run replays the lints without running
# clippy, a clippy entry never serves a plain `cargo check` (and the other way
# round), and changing clippy's arguments re-keys.
#
# `cargo clippy` runs `cargo check` with RUSTC_WORKSPACE_WRAPPER=<clippy-driver>
# and CLIPPY_ARGS set; clippy-driver then compiles in-process and never calls
# the rustc shim. To count real clippy runs, most steps do what `cargo clippy`
# does with a logging clippy-driver shim; the last steps run the real
# `cargo clippy`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -z $CLIPPY_SHIM ]]; then
  echo "clippy-driver is not installed: skipping"
  exit 77
fi

LINT='unneeded `return` statement'
DEAD='function `never_called` is never used'

# kclippy DIR: `cargo clippy` as cargo-clippy runs it, through the clippy shim.
kclippy() { CLIPPY_ARGS= RUSTC_WORKSPACE_WRAPPER=$CLIPPY_SHIM kcargo "$1" check; }

ws=$(new_workspace ws)

note "cold clippy"
kclippy "$ws"
assert_compiled 'mid:mid' "cold clippy run"
grep -q '^mid:mid .*tool=clippy' "$COMPILE_LOG" || fail "test harness: clippy-driver shim did not see mid"
assert_file_contains "$LAST_ERR" "$LINT" "cold clippy should report the needless_return lint"

note "warm clippy after cargo clean: lints replayed"
pcargo "$ws" clean
kclippy "$ws"
assert_no_real_compiles "warm clippy run after cargo clean"
assert_file_contains "$LAST_ERR" "$LINT" "warm clippy should replay the clippy lint"
assert_file_contains "$LAST_ERR" "$DEAD" "warm clippy should replay the rustc warning"

note "plain cargo check right after clippy: not served by the clippy entry"
kcargo "$ws" check
assert_compiled 'mid:mid' "plain cargo check after clippy (a clippy entry served a plain check)"
grep -q '^mid:mid .*tool=rustc' "$COMPILE_LOG" || fail "plain check did not run rustc for mid"
assert_file_not_contains "$LAST_ERR" "$LINT" "plain cargo check shows a clippy lint: it was served a clippy entry"
assert_file_contains "$LAST_ERR" "$DEAD" "plain cargo check should show the rustc warning"

note "warm plain check and warm clippy, alternating"
pcargo "$ws" clean
kcargo "$ws" check
# (itoa was never compiled by a plain check here; see the last step)
assert_not_compiled 'leaf:.*|native:.*|pmacro:.*|mid:.*|app:.*' "warm plain check: workspace members"
assert_file_not_contains "$LAST_ERR" "$LINT" "warm plain check shows a clippy lint"
pcargo "$ws" clean
kclippy "$ws"
assert_no_real_compiles "warm clippy again"
assert_file_contains "$LAST_ERR" "$LINT" "warm clippy again"

note "plain check first, then clippy, in a fresh store"
export KACHE_CACHE_DIR=$TEST_TMP/cache2
pcargo "$ws" clean
kcargo "$ws" check
assert_file_not_contains "$LAST_ERR" "$LINT" "plain cargo check"
kclippy "$ws"
grep -q '^mid:mid .*tool=clippy' "$COMPILE_LOG" || fail "clippy after a plain check was served the plain entry (no real clippy run for mid)"
assert_file_contains "$LAST_ERR" "$LINT" "clippy after a plain check must report the lint"

note "the real cargo clippy, fresh store"
export KACHE_CACHE_DIR=$TEST_TMP/cache3
pcargo "$ws" clean
kcargo "$ws" clippy
assert_file_contains "$LAST_ERR" "$LINT" "cold cargo clippy"
pcargo "$ws" clean
kcargo "$ws" clippy
assert_not_compiled 'itoa:itoa' "warm cargo clippy: the registry crate"
assert_file_contains "$LAST_ERR" "$LINT" "warm cargo clippy should replay the lint"

note "cargo clippy -- -D clippy::needless_return: CLIPPY_ARGS re-keys, the lint is now an error"
EXPECT_CARGO_FAIL=1 kcargo "$ws" clippy -- -D clippy::needless_return && fail "cargo clippy -D should fail (was it served the entry recorded without -D?)"
assert_file_contains "$LAST_ERR" "^error: $LINT" "cargo clippy -D clippy::needless_return"
pcargo "$ws" clean
EXPECT_CARGO_FAIL=1 kcargo "$ws" clippy -- -D clippy::needless_return && fail "cargo clippy -D after clean should fail"
assert_file_contains "$LAST_ERR" "^error: $LINT" "cargo clippy -D clippy::needless_return after clean"
kcargo "$ws" clippy
assert_file_contains "$LAST_ERR" "^warning: $LINT" "cargo clippy without -D again"

note "a registry crate that cargo clippy compiled with plain rustc serves a plain cargo check"
# clippy-driver only wraps workspace members; itoa is compiled by rustc with the
# same command line as in `cargo check`, only CLIPPY_ARGS is set in the
# environment, and rustc does not read it.
export KACHE_CACHE_DIR=$TEST_TMP/cache4
pcargo "$ws" clean
kclippy "$ws"
assert_compiled 'itoa:itoa' "cold clippy run"
pcargo "$ws" clean
kcargo "$ws" check
assert_not_compiled 'itoa:itoa' "plain cargo check after cargo clippy filled the store"
