#!/usr/bin/env bash
# An rlib that bundles a C archive rustc finds itself (`#[link(kind = "static")]`)
# in the first of two native search directories that has it. An archive of the
# same name that appears in the earlier directory is bundled instead: a clean
# rebuild must not restore the rlib bundled from the later one. An unchanged
# clean rebuild still hits.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cc >/dev/null || skip "no C compiler (cc) to build the archives"
command -v ar >/dev/null || skip "no ar to build the archives"

ws=$(new_workspace ws bundle)
export KACHE_BUNDLE_A=$TEST_TMP/first KACHE_BUNDLE_B=$TEST_TMP/second
mkdir -p "$KACHE_BUNDLE_A" "$KACHE_BUNDLE_B" "$TEST_TMP/csrc"

archive() { # DIR VALUE: libbx.a in DIR, bx() returning VALUE
  local src=$TEST_TMP/csrc/bx.c obj=$TEST_TMP/csrc/bx.o
  printf 'int bx(void) { return %s; }\n' "$2" >"$src"
  cc -c -O1 -fPIC "$src" -o "$obj" || fail "cc failed on $src"
  rm -f "$1/libbx.a"
  ar crsD "$1/libbx.a" "$obj" || fail "ar failed on $obj"
}

rebuild() { # EXPECTED-OUTPUT WHAT: a clean build bundles what the directories hold now
  local exe=$ws/target/debug/bapp out
  pcargo "$ws" clean
  kcargo "$ws" build
  [[ -x $exe ]] || fail "$exe missing"
  out=$("$exe") || fail "$exe exited with status $?"
  [[ $out == "$1" ]] || fail "$2: the binary prints '$out', a build without kache prints '$1'"
}

archive "$KACHE_BUNDLE_B" 1
note "cold build, then an unchanged clean rebuild hits"
rebuild 'x=1' "cold build"
assert_compiled 'bdep:bdep' "the cold build compiles the rlib"
rebuild 'x=1' "clean rebuild"
assert_no_real_compiles "clean rebuild of unchanged sources and archives"

note "libbx.a appears in the first search directory: rustc bundles that one"
archive "$KACHE_BUNDLE_A" 2
rebuild 'x=2' "after libbx.a appeared in the first directory"
assert_compiled 'bdep:bdep' "the rlib is compiled again"
rebuild 'x=2' "clean rebuild with both archives"
assert_no_real_compiles "clean rebuild with both archives"

note "ok"
