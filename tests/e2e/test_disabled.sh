#!/usr/bin/env bash
# KACHE_DISABLED=1: everything passes through to rustc and nothing is stored.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold build, disabled"
KACHE_DISABLED=1 kcargo "$ws" build
units=$(count_real_compiles)
assert_ge "$units" 8 "disabled cold build: real compiles"
assert_app_baseline "$ws"
assert_eq "$(count_entries)" 0 "entries on disk after a disabled build"

note "rebuild after clean, still disabled: nothing is served"
pcargo "$ws" clean
KACHE_DISABLED=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "disabled warm build: real compiles"
assert_eq "$(count_entries)" 0 "entries on disk after two disabled builds"

note "enabled again: the store is empty, so everything compiles"
pcargo "$ws" clean
kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "first enabled build after disabled ones: real compiles"
assert_ge "$(count_entries)" 1 "entries on disk after an enabled build"
assert_app_baseline "$ws"

note "disabled with a full store: still compiles everything"
pcargo "$ws" clean
KACHE_DISABLED=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "disabled build with a full store: real compiles"
assert_app_baseline "$ws"
