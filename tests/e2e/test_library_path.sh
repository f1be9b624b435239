#!/usr/bin/env bash
# A C library the linker finds only through LIBRARY_PATH (no -L anywhere: the cc
# driver hands those directories to ld) is part of the key: rebuilt in place, a
# clean rebuild must link the new archive, never restore a binary linked with
# the old one. Two ways in: `cargo:rustc-link-lib=lpa` of the binary's own build
# script (an -l flag on its command line) and `cargo:rustc-link-lib=lpb` of a
# library it depends on (only on the linker's command line). An unchanged clean
# rebuild still hits. An archive of the same name that appears in a directory the
# linker searches first is linked instead: the entry must not be served then.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v cc >/dev/null || skip "no C compiler (cc) to build the archives"
command -v ar >/dev/null || skip "no ar to build the archives"

ws=$(new_workspace ws libpath)
libdir=$TEST_TMP/libs
mkdir -p "$libdir" "$TEST_TMP/csrc"
export LIBRARY_PATH=$TEST_TMP/elsewhere:$libdir

archive() { # NAME FUNCTION VALUE [DIR]: lib<NAME>.a in DIR ($libdir), FUNCTION returning VALUE
  local src=$TEST_TMP/csrc/$1.c obj=$TEST_TMP/csrc/$1.o dir=${4:-$libdir}
  printf 'int %s(void) { return %s; }\n' "$2" "$3" >"$src"
  cc -c -O1 -fPIC "$src" -o "$obj" || fail "cc failed on $src"
  mkdir -p "$dir"
  rm -f "$dir/lib$1.a"
  ar crsD "$dir/lib$1.a" "$obj" || fail "ar failed on $obj"
}

expect() { # EXPECTED-OUTPUT WHAT
  local exe=$ws/target/debug/lpapp out
  [[ -x $exe ]] || fail "$exe missing"
  out=$("$exe") || fail "$exe exited with status $?"
  [[ $out == "$1" ]] || fail "$2: the binary prints '$out', a build without kache prints '$1'"
}

rebuild() { # EXPECTED-OUTPUT WHAT: a clean build links what LIBRARY_PATH holds now
  pcargo "$ws" clean
  kcargo "$ws" build
  expect "$1" "$2"
}

archive lpa lp_a 1
archive lpb lp_b 2

note "cold build, then an unchanged clean rebuild hits"
rebuild 'a=1 b=2' "cold build"
assert_compiled 'lpapp:lpapp' "the cold build links the binary"
rebuild 'a=1 b=2' "clean rebuild"
assert_no_real_compiles "clean rebuild of unchanged sources and archives"

note "liblpa.a (the binary's own -l lpa) rebuilt in a LIBRARY_PATH directory"
archive lpa lp_a 11
rebuild 'a=11 b=2' "after rebuilding liblpa.a"
assert_compiled 'lpapp:lpapp' "the binary is linked again"
rebuild 'a=11 b=2' "clean rebuild after liblpa.a"
assert_no_real_compiles "clean rebuild after liblpa.a"

note "liblpb.a (a dependency's -l lpb, seen only by the linker) rebuilt in place"
archive lpb lp_b 22
rebuild 'a=11 b=22' "after rebuilding liblpb.a"
assert_compiled 'lpapp:lpapp' "the binary is linked again"

note "back to the first archives: the first entries are served again"
archive lpa lp_a 1
archive lpb lp_b 2
rebuild 'a=1 b=2' "the first archives again"
assert_no_real_compiles "the first archives again"

note "an archive of the same name put in an earlier LIBRARY_PATH directory is linked instead"
# The linker looked for liblpb.a in $TEST_TMP/elsewhere first and found none:
# the binary's entry holds only while none is there.
archive lpb lp_b 33 "$TEST_TMP/elsewhere"
rebuild 'a=1 b=33' "after liblpb.a appeared in an earlier directory"
assert_compiled 'lpapp:lpapp' "the binary is linked again"
rebuild 'a=1 b=33' "clean rebuild with liblpb.a in the earlier directory"
assert_no_real_compiles "clean rebuild with liblpb.a in the earlier directory"
archive lpa lp_a 44 "$TEST_TMP/elsewhere"
rebuild 'a=44 b=33' "after liblpa.a appeared in an earlier directory"

note "ok"
