#!/usr/bin/env bash
# `cargo test` after a warm restore: the test harnesses come from the store
# (zero real compiles), run, and pass.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold cargo build and cargo test (test builds differ: --test harnesses, proc-macros without debuginfo)"
kcargo "$ws" build
kcargo "$ws" test --workspace
assert_compiled 'mid:mid' "cold cargo test"
grep -q ' test' "$COMPILE_LOG" || fail "cold cargo test compiled no test harness (--test)"
assert_file_contains "$LAST_OUT" '^test tests::shout_works \.\.\. ok$' "cold cargo test should run mid's test"

note "warm cargo test after cargo clean"
pcargo "$ws" clean
kcargo "$ws" test --workspace
assert_no_real_compiles "warm cargo test after cargo clean"
assert_file_contains "$LAST_OUT" '^test tests::shout_works \.\.\. ok$' "warm cargo test should run mid's test"
assert_file_contains "$LAST_OUT" '^test result: ok\. 1 passed' "warm cargo test result"
assert_file_not_contains "$LAST_OUT" 'FAILED|failed; [1-9]' "warm cargo test"

note "cargo build after the warm cargo test"
kcargo "$ws" build
assert_no_real_compiles "warm cargo build after the warm cargo test"
assert_app_baseline "$ws"

note "a failing test stays failing: edit the test, the harness is recompiled"
replace_in "$ws/mid/src/lib.rs" 'clippy_bait(1), 2)' 'clippy_bait(1), 3)'
EXPECT_CARGO_FAIL=1 kcargo "$ws" test -p mid || true
assert_compiled 'mid:mid' "cargo test after editing the test"
assert_file_contains "$LAST_OUT" '^test tests::shout_works \.\.\. FAILED$' "the edited test must fail"
