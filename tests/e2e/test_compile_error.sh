#!/usr/bin/env bash
# A failing compile shows rustc's error, is not recorded as a success, and the
# crate builds again once fixed; re-breaking it fails again.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
kcargo "$ws" build

note "break leaf"
replace_in "$ws/leaf/src/util.rs" '"module-one"' '42'
EXPECT_CARGO_FAIL=1 kcargo "$ws" build && fail "the build of a broken crate succeeded"
assert_file_contains "$LAST_ERR" 'error\[E0308\]: mismatched types' "rustc's error on the broken build"
assert_file_contains "$LAST_ERR" 'leaf/src/util.rs' "the error names the file"

note "break it again after cargo clean: still an error"
pcargo "$ws" clean
EXPECT_CARGO_FAIL=1 kcargo "$ws" build && fail "the build of a broken crate succeeded after cargo clean (a failed compile was served as a success?)"
assert_file_contains "$LAST_ERR" 'error\[E0308\]: mismatched types' "rustc's error on the second broken build"
[[ ! -e $ws/target/debug/fixture-app ]] || fail "a program was produced from a broken crate"

note "fix it"
replace_in "$ws/leaf/src/util.rs" '42' '"module-one"'
kcargo "$ws" build
assert_app_baseline "$ws"
