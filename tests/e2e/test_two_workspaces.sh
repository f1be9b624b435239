#!/usr/bin/env bash
# Two workspaces with the same layout and crate names but different code share
# one store and never get each other's artifacts.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

a=$(new_workspace a/project)
b=$(new_workspace b/project)
# b differs from a in a module file, an include_str! file, the C code, the proc
# macro's input and the program (same file sizes where possible).
replace_in "$b/leaf/src/util.rs" module-one module-bee
printf 'hello from BBBB' > "$b/leaf/data/greeting.txt"
replace_in "$b/native/csrc/foo.c" 'return 1;' 'return 7;'
replace_in "$b/mid/src/lib.rs" '"mid says hi"' '"mid says bb"'
replace_in "$b/app/src/main.rs" 'println!("profile={}"' 'println!("PROFILE={}"'

expect_a=(debug "module=module-one" "greeting=hello from data" native=1 "shout=MID SAYS HI" profile=debug)
expect_b=(debug "module=module-bee" "greeting=hello from BBBB" native=7 "shout=MID SAYS BB" PROFILE=debug)

note "cold build of a"
kcargo "$a" build
assert_app_baseline "$a"

note "build of b into the same store"
kcargo "$b" build
assert_compiled 'leaf:leaf' "b's leaf differs from a's"
assert_compiled 'native:native' "b's native crate links different C code"
assert_compiled 'mid:mid' "b's mid differs from a's"
assert_compiled 'app:fixture_app' "b's program differs from a's"
assert_app "$b" "${expect_b[@]}"

for round in 1 2; do
  note "round $round: clean both, rebuild a then b from the store"
  pcargo "$a" clean
  pcargo "$b" clean
  kcargo "$a" build
  assert_no_real_compiles "round $round: warm build of a"
  assert_app "$a" "${expect_a[@]}"
  assert_app_baseline "$a"
  kcargo "$b" build
  assert_no_real_compiles "round $round: warm build of b"
  assert_app "$b" "${expect_b[@]}"
done

note "a and b swap places: a's code at b's path and the other way round"
mv "$a" "$TEST_TMP/tmp-a"; mv "$b" "$a"; mv "$TEST_TMP/tmp-a" "$b"
pcargo "$a" clean
pcargo "$b" clean
kcargo "$a" build
assert_no_real_compiles "b's code at a's path"
assert_app "$a" "${expect_b[@]}"
kcargo "$b" build
assert_no_real_compiles "a's code at b's path"
assert_app_baseline "$b"
