#!/usr/bin/env bash
# Raw paths in outputs: an artifact that holds a raw path of its checkout is
# never served to another checkout of the same sources (sharing one store),
# while artifacts without one still are.
#   (a) a binary linked with -Wl,-rpath,$OUT_DIR from its build script: the
#       second checkout's RUNPATH points into the second checkout;
#   (b) a proc macro that reads CARGO_MANIFEST_DIR through std::env::var and
#       bakes it into a string: the second checkout's program prints its own path.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v readelf >/dev/null || skip "readelf (binutils) is not installed"

ws1=$(new_workspace first/checkout pathspec)
ws2=$(new_workspace second/place/checkout pathspec)

# runpath DIR: the RUNPATH (or RPATH) of DIR's rpath binary.
runpath() {
  readelf -d "$1/target/debug/rpath" | sed -n 's/.*(\(RUNPATH\|RPATH\)).*\[\(.*\)\]/\2/p'
}

note "cold build in $ws1"
kcargo "$ws1" build
assert_ge "$(count_real_compiles)" 5 "cold build: real compiles"
rp1=$(runpath "$ws1")
[[ $rp1 == "$ws1/target/debug/build/rpath-"*/out ]] || fail "the first checkout's RUNPATH is '$rp1', expected its own OUT_DIR"
grep -qxF "dir=$ws1/pmuser" <("$ws1/target/debug/pmuser") || fail "the first checkout's pmuser does not print its own dir"

note "build of the copy in $ws2 (same store)"
kcargo "$ws2" build
note "(a) RUNPATH of the second checkout's binary"
rp2=$(runpath "$ws2")
[[ $rp2 != *"$ws1"* ]] || fail "the second checkout's binary was served with the first checkout's RUNPATH '$rp2'"
[[ $rp2 == "$ws2/target/debug/build/rpath-"*/out ]] || fail "the second checkout's RUNPATH is '$rp2', expected its own OUT_DIR"

note "(b) the proc macro's baked CARGO_MANIFEST_DIR"
out2=$("$ws2/target/debug/pmuser") || fail "pmuser at the second checkout failed"
grep -qxF "dir=$ws2/pmuser" <<<"$out2" || fail "pmuser at the second checkout prints '$(grep dir= <<<"$out2")', expected dir=$ws2/pmuser (a foreign artifact was served)"
grep -qxF "plain says hi" <<<"$out2" || fail "pmuser at the second checkout prints: $out2"

# Only the two path-specific binaries compile again; the library, the proc
# macro and the build script have no raw path in their bytes and are restored.
assert_compiled_set 'pmuser:pmuser rpath:rpath' "the second checkout"

note "relocation still works: the ordinary units were hits, in the event log"
hit_crates=$(events_json | python3 -c '
import json, sys
print(" ".join(sorted({e.get("crate", "") for e in json.load(sys.stdin) if e.get("outcome") == "hit"})))
') || fail "cannot read the event log"
for c in plain pm "rpath (build script)"; do
  [[ " $hit_crates " == *" $c "* ]] || fail "no hit event for '$c' at the second checkout (hits: $hit_crates)"
done

note "path-specific entries still hit at their own path"
(cd "$ws1" && cargo clean -q)
kcargo "$ws1" build
assert_no_real_compiles "rebuild of the first checkout after cargo clean"
[[ $(runpath "$ws1") == "$rp1" ]] || fail "the first checkout's RUNPATH changed to '$(runpath "$ws1")' after a restore"
grep -qxF "dir=$ws1/pmuser" <("$ws1/target/debug/pmuser") || fail "the first checkout's pmuser does not print its own dir after a restore"
(cd "$ws2" && cargo clean -q)
kcargo "$ws2" build
assert_no_real_compiles "rebuild of the second checkout after cargo clean"
grep -qxF "dir=$ws2/pmuser" <("$ws2/target/debug/pmuser") || fail "the second checkout's pmuser does not print its own dir after a restore"
