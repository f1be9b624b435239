#!/usr/bin/env bash
# Every output kind is linked from the store into the first tree (DESIGN.md, "The local
# store"): after `cargo clean`, a warm build places the program, the build-script
# executables and the proc-macro dylib as hardlinks of store blobs, not copies.
# Safe: rebuilding over those linked outputs (an edit of the program, of a build script
# and of the proc macro, each compiled again into the tree) replaces them and never
# writes through into the store: `kache doctor --verify` stays clean, and another
# target dir restored after the edits are reverted gets the original, working program.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
ta=$TEST_TMP/target-a
tb=$TEST_TMP/target-b

build_tree() { CARGO_TARGET_DIR=$1 kcargo "$ws" build; }

# blob_inodes: inode numbers of every blob in the store, one a line, sorted.
blob_inodes() { find "$KACHE_CACHE_DIR/blobs" -type f -printf '%i\n' | sort -u; }

# the_output TREE GLOB: the one file matching GLOB below TREE/debug.
the_output() {
  local f
  f=$(find "$1/debug" -path "$1/debug/$2" -type f | head -1)
  [[ -n $f ]] || fail "no output matching $2 in ${1#$TEST_TMP/}"
  echo "$f"
}

# assert_linked FILE WHAT: FILE is a hardlink of a store blob.
assert_linked() {
  local ino
  ino=$(stat -c '%i' "$1")
  grep -qx "$ino" <(blob_inodes) || fail "$2 ($(basename "$1")) is a copy, not a link of a store blob (links: $(stat -c '%h' "$1"))"
}

verify_store() {
  local rc=0
  "$KACHE" doctor --verify --store-only >"$TEST_TMP/doctor.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "kache doctor --verify $1 (exit $rc): $(tail -5 "$TEST_TMP/doctor.out")"
}

note "cold build, then cargo clean and a warm build from the store"
build_tree "$ta"
assert_ge "$(count_real_compiles)" 6 "cold build"
rm -rf "$ta"
build_tree "$ta"
assert_no_real_compiles "the warm build restores every unit"
assert_app_baseline_in() { local out; out=$("$1/debug/fixture-app"); [[ $out == "$FIXTURE_BASELINE" ]] || fail "program in ${1#$TEST_TMP/} prints: $out"; }
assert_app_baseline_in "$ta"

exe=$(the_output "$ta" 'deps/fixture_app-*')
bs=$(the_output "$ta" 'build/leaf-*/build_script_build-*')
pm=$(the_output "$ta" 'deps/libpmacro-*.so')
rlib=$(the_output "$ta" 'deps/libleaf-*.rlib')
assert_linked "$exe" "the program"
assert_linked "$bs" "leaf's build-script executable"
assert_linked "$pm" "the proc-macro dylib"
assert_linked "$rlib" "leaf's rlib"
verify_store "after the warm build"

note "edits rebuild over the linked outputs: the program, a build script, the proc macro"
cp "$ws/app/src/main.rs" "$TEST_TMP/main.rs.orig"
cp "$ws/leaf/build.rs" "$TEST_TMP/build.rs.orig"
cp "$ws/pmacro/src/lib.rs" "$TEST_TMP/pm.rs.orig"
echo 'fn _edited_program() {}' >>"$ws/app/src/main.rs"
replace_in "$ws/app/src/main.rs" 'println!("profile={}"' 'println!("edited=yes"); println!("profile={}"'
echo '// edited build script' >>"$ws/leaf/build.rs"
echo 'fn _edited_macro() {}' >>"$ws/pmacro/src/lib.rs"
old_exe=$(stat -c '%i' "$exe")
build_tree "$ta"
assert_compiled "app:fixture_app" "the edited program is compiled"
assert_compiled "pmacro:pmacro" "the edited proc macro is compiled"
assert_compiled "leaf:build_script_build" "the edited build script is compiled"
out=$("$ta/debug/fixture-app") || fail "the rebuilt program failed"
grep -qx 'edited=yes' <<<"$out" || fail "the rebuilt program is not the edited one: $(tr '\n' ' ' <<<"$out")"
verify_store "after rebuilding over linked outputs"

note "reverted, another target dir gets the original program from the store"
cp "$TEST_TMP/main.rs.orig" "$ws/app/src/main.rs"
cp "$TEST_TMP/build.rs.orig" "$ws/leaf/build.rs"
cp "$TEST_TMP/pm.rs.orig" "$ws/pmacro/src/lib.rs"
build_tree "$tb"
assert_no_real_compiles "tree B restores every unit"
assert_app_baseline_in "$tb"
exe_b=$(the_output "$tb" 'deps/fixture_app-*')
[[ $(stat -c '%i' "$exe_b") != "$(stat -c '%i' "$(the_output "$ta" 'deps/fixture_app-*')")" ]] ||
  fail "tree B's program shares tree A's inode"
echo "   tree A's old program inode $old_exe; tree B's program $(stat -c '%i %h' "$exe_b")"
verify_store "after restoring into tree B"

note "tree A back to the original: restored again, the program is right"
build_tree "$ta"
assert_no_real_compiles "tree A restores the reverted units"
assert_app_baseline_in "$ta"
verify_store "at the end"
