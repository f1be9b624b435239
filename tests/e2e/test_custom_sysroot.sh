#!/usr/bin/env bash
# A compile given a --sysroot of the user's (an xargo-style sysroot, rebuilt in
# place) is not served from the cache: the toolchain identity covers rustc's own
# sysroot only, so a hit could carry code built on an old std. The build works
# (kache passes the compile through, silently) and compiles every time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

real_sysroot=$("$REAL_RUSTC" --print sysroot) || fail "$REAL_RUSTC --print sysroot failed"
host=$("$REAL_RUSTC" -vV | sed -n 's/^host: //p')
[[ -d $real_sysroot/lib/rustlib/$host/lib ]] || skip "no standard library for $host in $real_sysroot"

# A copy of the real sysroot's standard library (hard links where the file
# system allows, else a copy): what a custom sysroot looks like to rustc.
sysroot=$TEST_TMP/sysroot
mkdir -p "$sysroot/lib/rustlib/$host"
cp -al "$real_sysroot/lib/rustlib/$host/lib" "$sysroot/lib/rustlib/$host/lib" 2>/dev/null ||
  cp -r "$real_sysroot/lib/rustlib/$host/lib" "$sysroot/lib/rustlib/$host/lib"

ws=$(new_workspace ws why)

note "with RUSTFLAGS=--sysroot=<copy>: built, and built again after cargo clean (no hit)"
export RUSTFLAGS="--sysroot=$sysroot"
kcargo "$ws" build
assert_compiled 'whylib:whylib' "the first build compiles"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'whylib:whylib' "a clean rebuild with a custom sysroot compiles again, never restores"
assert_compiled 'whydep:whydep' "a clean rebuild with a custom sysroot compiles again, never restores"

note "without it the same workspace is cached as usual"
unset RUSTFLAGS
pcargo "$ws" clean
kcargo "$ws" build
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "clean rebuild without --sysroot"

note "ok"
