#!/usr/bin/env bash
# The edit loop: cargo's debug builds compile workspace members with
# `-C incremental`, and kache keeps it, so an edited member compiles from the
# incremental state in its own target dir. The result is still recorded (under
# a key that marks incremental mode), so a revert, a `cargo clean` and another
# checkout hit. An incremental result is never served to a non-incremental
# invocation (CARGO_INCREMENTAL=0): that one misses and compiles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# sessions WS CRATE: rustc's incremental session directories of one crate, sorted.
sessions() {
  local d
  for d in "$1"/target/debug/incremental/"$2"-*/s-*; do
    if [[ -d $d ]]; then basename "$d"; fi
  done | sort | tr '\n' ' '
}

# assert_incremental UNIT MESSAGE: the last cargo command compiled UNIT and passed rustc -C incremental.
assert_incremental() {
  assert_compiled "$1" "$2"
  grep -Eq "^$1 .* incr" "$COMPILE_LOG" || fail "$2: $1 was compiled without -C incremental"
}

ws=$(new_workspace ws)

note "cold build: members compile incrementally and are recorded"
kcargo "$ws" build
assert_incremental 'leaf:leaf' "cold build"
assert_incremental 'app:fixture_app' "cold build"
assert_file_not_contains "$COMPILE_LOG" '^itoa:itoa .* incr' "itoa (a registry crate) compiled incrementally"
s0=$(sessions "$ws" leaf)
[[ -n $s0 ]] || fail "no incremental session for leaf in target/debug/incremental"
assert_app_baseline "$ws"

note "edit leaf: compiled from its incremental state, the program shows the edit"
replace_in "$ws/leaf/src/util.rs" module-one module-two
kcargo "$ws" build
assert_compiled_set "leaf:leaf mid:mid app:fixture_app" "after editing leaf/src/util.rs"
assert_incremental 'leaf:leaf' "after editing leaf"
s1=$(sessions "$ws" leaf)
[[ -n $s1 && $s1 != "$s0" ]] || fail "leaf's incremental state did not move on after the edit ($s0 -> $s1)"
assert_app "$ws" debug module=module-two

note "revert: served from the store (recorded by the incremental compile)"
replace_in "$ws/leaf/src/util.rs" module-two module-one
kcargo "$ws" build
assert_file_contains "$LAST_ERR" 'Compiling leaf' "cargo should have rebuilt leaf after the revert"
assert_no_real_compiles "after reverting the edit"
assert_app_baseline "$ws"

note "edit after a hit: the incremental state is older than the restored outputs; rustc copes"
replace_in "$ws/leaf/src/util.rs" module-one module-three
replace_in "$ws/leaf/src/lib.rs" $'{\n    1\n}' $'{\n    3\n}'
kcargo "$ws" build
assert_incremental 'leaf:leaf' "editing leaf after a hit"
assert_app "$ws" debug module=module-three leaf_version=3

note "edit the leaf binary: compiled incrementally, nothing else"
replace_in "$ws/app/src/main.rs" 'println!("greeting={}"' 'println!("Greeting={}"'
kcargo "$ws" build
assert_compiled_set "app:fixture_app" "after editing app/src/main.rs"
assert_incremental 'app:fixture_app' "after editing app/src/main.rs"
assert_app "$ws" debug "Greeting=hello from data" module=module-three leaf_version=3

note "cargo clean: everything hits, and no incremental state comes from the store"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after cargo clean"
assert_app "$ws" debug "Greeting=hello from data" module=module-three leaf_version=3
[[ -z $(sessions "$ws" leaf) ]] || fail "target/debug/incremental/leaf-* after an all-hit build: kache restored incremental state"

note "another checkout at another path hits"
ws2=$TEST_TMP/elsewhere/checkout2
copy_source "$ws" "$ws2"
kcargo "$ws2" build
assert_no_real_compiles "warm build in a second checkout"
assert_app "$ws2" debug "Greeting=hello from data" module=module-three leaf_version=3

note "CARGO_INCREMENTAL=0 after incremental builds of the same sources: members miss"
pcargo "$ws2" clean
CARGO_INCREMENTAL=0 kcargo "$ws2" build
assert_compiled_set "leaf:build_script_build leaf:leaf native:build_script_build native:native pmacro:pmacro mid:mid app:fixture_app" \
  "non-incremental build (incremental results must not be served to it)"
assert_file_not_contains "$COMPILE_LOG" ' incr' "CARGO_INCREMENTAL=0 build"
assert_app "$ws2" debug "Greeting=hello from data" module=module-three leaf_version=3

note "and each mode then hits its own results"
pcargo "$ws2" clean
CARGO_INCREMENTAL=0 kcargo "$ws2" build
assert_no_real_compiles "second CARGO_INCREMENTAL=0 build"
pcargo "$ws2" clean
kcargo "$ws2" build
assert_no_real_compiles "incremental build after the non-incremental ones"
assert_app "$ws2" debug "Greeting=hello from data" module=module-three leaf_version=3

note "release builds are not incremental and still hit"
kcargo "$ws" build --release
assert_file_not_contains "$COMPILE_LOG" ' incr' "a release build"
pcargo "$ws" clean
kcargo "$ws" build --release
assert_no_real_compiles "warm release build"
assert_app "$ws" release profile=release module=module-three leaf_version=3
