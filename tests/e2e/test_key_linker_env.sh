#!/usr/bin/env bash
# Variables that steer the linker without appearing on rustc's command line are
# part of a linking unit's key: a binary linked with LD_RUN_PATH set (GNU ld
# turns it into the RUNPATH) is never served to a build without it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v readelf >/dev/null || skip "readelf is not installed"

ws=$TEST_TMP/rp
mkdir -p "$ws/src"
printf '[package]\nname = "rp"\nversion = "0.1.0"\nedition = "2021"\n' > "$ws/Cargo.toml"
echo 'fn main() { println!("rp"); }' > "$ws/src/main.rs"
# GNU ld reads LD_RUN_PATH (rustc's bundled lld does not): link with it.
export RUSTFLAGS="-C link-arg=-fuse-ld=bfd"
exe=$ws/target/debug/rp

runpath() { readelf -d "$exe" | { grep -E 'RUNPATH|RPATH' || true; }; }

note "linked with LD_RUN_PATH=/some/dir"
LD_RUN_PATH=/some/dir kcargo "$ws" build
assert_compiled 'rp:rp' "the first build compiles"
[[ $(runpath) == */some/dir* ]] || skip "this linker does not honour LD_RUN_PATH: $(runpath)"

note "the same environment again is a hit"
pcargo "$ws" clean
LD_RUN_PATH=/some/dir kcargo "$ws" build
assert_no_real_compiles "same LD_RUN_PATH after cargo clean"
[[ $(runpath) == */some/dir* ]] || fail "the restored binary lost its RUNPATH"

note "without LD_RUN_PATH the binary is linked again, without the RUNPATH"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'rp:rp' "LD_RUN_PATH unset after cargo clean"
[[ $(runpath) != */some/dir* ]] || fail "binary built without LD_RUN_PATH has RUNPATH from another build: $(runpath)"

note "a library (no link step) does not depend on it"
lib=$TEST_TMP/rl
mkdir -p "$lib/src"
printf '[package]\nname = "rl"\nversion = "0.1.0"\nedition = "2021"\n' > "$lib/Cargo.toml"
echo 'pub fn f() -> u32 { 7 }' > "$lib/src/lib.rs"
LD_RUN_PATH=/some/dir kcargo "$lib" build
pcargo "$lib" clean
kcargo "$lib" build
assert_no_real_compiles "an rlib with and without LD_RUN_PATH"
