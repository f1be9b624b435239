#!/usr/bin/env bash
# Everything a link reads is part of the key, transitively: a C archive bundled
# into an rlib two levels below the binary, one named only by a #[link] attribute,
# one from a dependency's cargo:rustc-link-lib (plain and static:-bundle), one
# found through cargo:rustc-link-arg=-L<dir> plus -lNAME, and a linker script
# given as -Wl,--script=FILE. Each changes without changing any .rmeta or the
# command line; the binary must show the change, never an old artifact. An
# unchanged rebuild (after cargo clean, and in a second checkout) still hits.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cc >/dev/null || skip "no C compiler (cc) to build the fixture's archives"
command -v ar >/dev/null || skip "no ar to build the fixture's archives"

ws=$(new_workspace ws links)

output() {
  local exe=$ws/target/debug/links-app
  [[ -x $exe ]] || fail "$exe missing"
  "$exe" || fail "$exe exited with status $?"
}

expect() { # EXPECTED-OUTPUT WHAT
  local out
  out=$(output)
  [[ $out == "$1" ]] || fail "$2: the binary prints '$out', a build without kache prints '$1'"
}

# A clean rebuild of what was just built restores everything from the store.
expect_warm() { # EXPECTED-OUTPUT
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "clean rebuild of unchanged sources"
  expect "$1" "clean rebuild"
}

note "cold build"
kcargo "$ws" build
assert_compiled 'app:links_app' "the cold build links the binary"
expect 'a=1 b=2 c=3 d=4 magic=5' "cold build"
expect_warm 'a=1 b=2 c=3 d=4 magic=5'

note "#[link(kind = \"static\")] archive two levels down (no -l flag): bundled into the rlib"
replace_in "$ws/attr/csrc/va.c" 'return 1;' 'return 11;'
kcargo "$ws" build
expect 'a=11 b=2 c=3 d=4 magic=5' "after editing attr/csrc/va.c"
expect_warm 'a=11 b=2 c=3 d=4 magic=5'

note "a dependency's cargo:rustc-link-lib=vb (linked by the binary)"
replace_in "$ws/plain/csrc/vb.c" 'return 2;' 'return 22;'
kcargo "$ws" build
expect 'a=11 b=22 c=3 d=4 magic=5' "after editing plain/csrc/vb.c"
expect_warm 'a=11 b=22 c=3 d=4 magic=5'

note "a dependency's cargo:rustc-link-lib=static:-bundle=vc"
replace_in "$ws/nobundle/csrc/vc.c" 'return 3;' 'return 33;'
kcargo "$ws" build
expect 'a=11 b=22 c=33 d=4 magic=5' "after editing nobundle/csrc/vc.c"
expect_warm 'a=11 b=22 c=33 d=4 magic=5'

note "cargo:rustc-link-arg=-L<dir> plus -lvd"
replace_in "$ws/app/csrc/vd.c" 'return 4;' 'return 44;'
kcargo "$ws" build
expect 'a=11 b=22 c=33 d=44 magic=5' "after editing app/csrc/vd.c"
expect_warm 'a=11 b=22 c=33 d=44 magic=5'

note "a linker script given as -Wl,--script=FILE"
replace_in "$ws/app/magic.ld" 'links_magic = 5;' 'links_magic = 55;'
kcargo "$ws" build
expect 'a=11 b=22 c=33 d=44 magic=55' "after editing app/magic.ld"
expect_warm 'a=11 b=22 c=33 d=44 magic=55'

note "back to the first sources: the first entries are served again"
replace_in "$ws/attr/csrc/va.c" 'return 11;' 'return 1;'
replace_in "$ws/plain/csrc/vb.c" 'return 22;' 'return 2;'
replace_in "$ws/nobundle/csrc/vc.c" 'return 33;' 'return 3;'
replace_in "$ws/app/csrc/vd.c" 'return 44;' 'return 4;'
replace_in "$ws/app/magic.ld" 'links_magic = 55;' 'links_magic = 5;'
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "the first sources again"
expect 'a=1 b=2 c=3 d=4 magic=5' "the first sources again"

note "a second checkout at another path hits (link inputs are stored in sentinel form)"
# The libraries hit (attr's rlib is keyed by the archives in its OUT_DIR, in
# sentinel form), and so does the binary: `-C link-arg=-L<dir>` is keyed with
# the root as a sentinel, and the archives it finds by content.
other=$TEST_TMP/elsewhere/ws2
mkdir -p "$(dirname "$other")"
cp -r "$FIXTURES/links" "$other"
rm -rf "$other/target"
kcargo "$other" build
assert_no_real_compiles "second checkout"
[[ $("$other/target/debug/links-app") == 'a=1 b=2 c=3 d=4 magic=5' ]] || fail "second checkout prints the wrong values"

note "ok"
