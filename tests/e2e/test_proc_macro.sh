#!/usr/bin/env bash
# A proc-macro crate restored from the store works: after cargo clean, the
# macro's dylib is restored (not compiled) and a crate that uses it with new
# input compiles against it and gets the right expansion.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
kcargo "$ws" build
assert_compiled 'pmacro:pmacro' "cold build"
assert_app_baseline "$ws"

pcargo "$ws" clean
replace_in "$ws/mid/src/lib.rs" '"mid says hi"' '"restored macro works"'
replace_in "$ws/mid/src/lib.rs" '"MID SAYS HI"' '"RESTORED MACRO WORKS"'
kcargo "$ws" build
assert_not_compiled 'pmacro:pmacro' "the proc-macro crate should come from the store"
assert_compiled 'mid:mid' "mid, whose macro input changed"
assert_app "$ws" debug "shout=RESTORED MACRO WORKS"
so=$(ls "$ws"/target/debug/deps/libpmacro-*.so 2>/dev/null | head -1)
[[ -n $so ]] || fail "no restored libpmacro-*.so in target/debug/deps"
[[ -x $so ]] || fail "restored proc-macro dylib $so is not executable"

note "the same through cargo test (which builds the macro without debuginfo: its own entry)"
pcargo "$ws" clean
kcargo "$ws" test -p mid
assert_compiled 'pmacro:pmacro' "first cargo test -p mid (the macro compiled for a test build)"
assert_file_contains "$LAST_OUT" '^test tests::shout_works \.\.\. ok$' "mid's test"
pcargo "$ws" clean
replace_in "$ws/mid/src/lib.rs" '"restored macro works"' '"restored again"'
replace_in "$ws/mid/src/lib.rs" '"RESTORED MACRO WORKS"' '"RESTORED AGAIN"'
kcargo "$ws" test -p mid
assert_not_compiled 'pmacro:pmacro' "cargo test -p mid after clean: the macro comes from the store"
assert_compiled 'mid:mid' "mid, whose macro input changed"
assert_file_contains "$LAST_OUT" '^test tests::shout_works \.\.\. ok$' "mid's test, expanded by the restored macro"
