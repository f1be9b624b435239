#!/usr/bin/env bash
# By default kache keeps `-C incremental` (cargo passes it for workspace members
# in debug builds) and records the result under a key that marks incremental
# mode (test_edit_incremental.sh covers the edit loop).
# KACHE_PRESERVE_INCREMENTAL=1 passes incremental compiles through uncached.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "default: members compile incrementally and are cached"
kcargo "$ws" build
assert_compiled 'leaf:leaf' "cold build"
grep -q '^leaf:leaf .* incr' "$COMPILE_LOG" || fail "leaf was compiled without -C incremental"
compgen -G "$ws/target/debug/incremental/leaf-*" >/dev/null || fail "no target/debug/incremental/leaf-*"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build (default)"

note "KACHE_PRESERVE_INCREMENTAL=1: incremental compiles pass through"
pcargo "$ws" clean
KACHE_PRESERVE_INCREMENTAL=1 kcargo "$ws" build
assert_compiled 'leaf:leaf' "leaf with KACHE_PRESERVE_INCREMENTAL=1 (incremental, so not served from the store)"
assert_compiled 'mid:mid' "mid with KACHE_PRESERVE_INCREMENTAL=1"
assert_compiled 'app:fixture_app' "app with KACHE_PRESERVE_INCREMENTAL=1"
assert_not_compiled 'itoa:itoa' "itoa (not incremental) with KACHE_PRESERVE_INCREMENTAL=1"
grep -q '^leaf:leaf .* incr' "$COMPILE_LOG" || fail "leaf was not compiled with -C incremental under KACHE_PRESERVE_INCREMENTAL=1"
compgen -G "$ws/target/debug/incremental/leaf-*" >/dev/null || fail "no target/debug/incremental/leaf-* under KACHE_PRESERVE_INCREMENTAL=1"
assert_app_baseline "$ws"

note "KACHE_PRESERVE_INCREMENTAL=1 again after an edit: rustc reuses its incremental state"
replace_in "$ws/leaf/src/util.rs" module-one module-two
KACHE_PRESERVE_INCREMENTAL=1 kcargo "$ws" build
assert_compiled 'leaf:leaf' "leaf after an edit"
assert_app "$ws" debug module=module-two

note "release builds are not incremental: cached either way"
KACHE_PRESERVE_INCREMENTAL=1 kcargo "$ws" build --release
pcargo "$ws" clean
KACHE_PRESERVE_INCREMENTAL=1 kcargo "$ws" build --release
assert_no_real_compiles "warm release build with KACHE_PRESERVE_INCREMENTAL=1"
assert_app "$ws" release profile=release module=module-two
