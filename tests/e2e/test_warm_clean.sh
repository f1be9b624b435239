#!/usr/bin/env bash
# Warm rebuild after `cargo clean`: every compile is served from the store (zero
# real compiler runs), the program behaves the same, and cargo then considers
# the restored outputs fresh (a second build is a no-op).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

# assert_store_intact PHASE: the executables and dylibs in target/ may be hardlinks
# of store blobs (the first tree links every output kind), so whatever ran or rebuilt
# them must have left the store's content as it was: `kache doctor --verify` is clean.
assert_store_intact() {
  local rc=0
  "$KACHE" doctor --verify --store-only >"$TEST_TMP/doctor.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "$1: kache doctor --verify (exit $rc): $(tail -5 "$TEST_TMP/doctor.out")"
}

note "cold build"
kcargo "$ws" build
cold=$(count_real_compiles)
assert_ge "$cold" 8 "cold build: real compiles (leaf, its build script, native, its build script, pmacro, itoa, mid, app)"
assert_app_baseline "$ws"
app_output "$ws" > "$TEST_TMP/cold.out"
assert_ge "$(count_entries)" 1 "cold build: entries in the store"

assert_store_intact "after the cold build"

note "no-op build right after the cold build"
kcargo "$ws" build
assert_no_real_compiles "no-op build after the cold build"

note "warm build after cargo clean"
pcargo "$ws" clean
[[ ! -e $ws/target/debug/fixture-app ]] || fail "cargo clean left the program behind"
kcargo "$ws" build
assert_no_real_compiles "warm build after cargo clean"
assert_file_contains "$LAST_ERR" 'Compiling leaf' "cargo should have run (and kache served) the leaf compile"
app_output "$ws" > "$TEST_TMP/warm.out"
assert_same_file "$TEST_TMP/cold.out" "$TEST_TMP/warm.out" "the restored program prints something else than the cold-built one"

assert_store_intact "after the warm restore"

note "no-op build after the warm restore: cargo sees the restored outputs as fresh"
kcargo "$ws" build
assert_no_real_compiles "no-op build after the warm restore"
assert_file_not_contains "$LAST_ERR" 'Compiling ' "cargo rebuilt units after a warm restore (restored dep-info or mtimes are wrong)"

note "an edit after the warm restore is picked up (restored dep-info points at this workspace)"
replace_in "$ws/leaf/src/util.rs" module-one module-two
kcargo "$ws" build
assert_compiled 'leaf:leaf' "leaf after editing its module file"
assert_app "$ws" debug module=module-two

note "revert: served from the store, whose blobs the recompile above must not have written through"
replace_in "$ws/leaf/src/util.rs" module-two module-one
kcargo "$ws" build
assert_no_real_compiles "after reverting the edit"
assert_app_baseline "$ws"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after clean, at the end"
assert_app_baseline "$ws"
assert_store_intact "at the end"
