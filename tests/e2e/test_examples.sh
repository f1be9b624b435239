#!/usr/bin/env bash
# The programs in examples/ on a real store (the chain fixture's): read_store lists
# every entry with its outputs and sizes; custom_backend pushes every entry through its
# own "mirror://" backend (a flat directory) and pulls them into an empty store, which
# then builds the fixture with zero real compiles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

EXAMPLES=$KACHE_BUILD_ROOT/examples
for x in read_store custom_backend; do
  [[ -x $EXAMPLES/$x ]] || fail "$EXAMPLES/$x not built (meson compile -C build)"
done

ws=$(new_workspace ws)
note "cold build into store A"
kcargo "$ws" build
A=$KACHE_CACHE_DIR
n=$(count_entries)
assert_ge "$n" 8 "entries after the cold build"

note "read_store lists every entry"
"$EXAMPLES/read_store" "$A" > "$TEST_TMP/a.list" || fail "read_store $A failed"
head -n 12 "$TEST_TMP/a.list"
assert_eq "$(grep -c '^entry ' "$TEST_TMP/a.list")" "$n" "entries listed by read_store"
assert_file_contains "$TEST_TMP/a.list" "^usage: $n entries, " "read_store's usage line"
for pkg in leaf pmacro native mid app itoa; do
  assert_file_contains "$TEST_TMP/a.list" "^entry $pkg " "read_store lists package $pkg"
done
# Each library in target/ appears under its name with its size.
found=0
while read -r f; do
  name=$(basename "$f")
  grep -Eq "^  $name +$(stat -c %s "$f") " "$TEST_TMP/a.list" || fail "read_store does not list $name with size $(stat -c %s "$f")"
  found=$((found + 1))
done < <(find "$ws/target/debug/deps" -name '*.rlib')
assert_ge "$found" 4 "rlibs checked against read_store's listing"
# Without an argument it reads the store kache uses (KACHE_CACHE_DIR).
"$EXAMPLES/read_store" > "$TEST_TMP/a.default" || fail "read_store without an argument failed"
assert_same_file "$TEST_TMP/a.list" "$TEST_TMP/a.default" "read_store with KACHE_CACHE_DIR vs. with the path"
if "$EXAMPLES/read_store" "$TEST_TMP/no-such-store" 2>/dev/null; then fail "read_store accepted a missing store"; fi
[[ ! -e $TEST_TMP/no-such-store ]] || fail "read_store created a store where there was none"

note "custom_backend: A -> mirror:// -> empty store B"
B=$TEST_TMP/store-b
M=$TEST_TMP/mirror
"$EXAMPLES/custom_backend" "$A" "$B" "$M" > "$TEST_TMP/custom.out" 2>&1 || { cat "$TEST_TMP/custom.out"; fail "custom_backend failed"; }
cat "$TEST_TMP/custom.out"
assert_file_contains "$TEST_TMP/custom.out" "^push: $n pushed .* 0 failed" "custom_backend push"
assert_file_contains "$TEST_TMP/custom.out" "^pull: 0 pushed .*, $n pulled .* 0 failed" "custom_backend pull"
# Its own layout: one flat directory, a pack and a manifest object per entry, keys escaped.
assert_eq "$(find "$M" -mindepth 1 -type d | wc -l)" 0 "directories inside the mirror"
assert_eq "$(find "$M" -type f -name 'v1%2Fpacks%2F*.pack' | wc -l)" "$n" "packs in the mirror"
assert_eq "$(find "$M" -type f -name 'v1%2Fmanifests%2F*' | wc -l)" "$n" "manifest objects in the mirror"
"$EXAMPLES/read_store" "$B" > "$TEST_TMP/b.list" || fail "read_store $B failed"
assert_same_file <(grep -v '^store ' "$TEST_TMP/a.list") <(grep -v '^store ' "$TEST_TMP/b.list") \
  "store B holds other entries than store A"

note "custom_backend again: nothing left to transfer"
"$EXAMPLES/custom_backend" "$A" "$B" "$M" > "$TEST_TMP/again.out" 2>&1 || { cat "$TEST_TMP/again.out"; fail "custom_backend failed"; }
cat "$TEST_TMP/again.out"
assert_file_contains "$TEST_TMP/again.out" "^push: 0 pushed .*, $n up to date" "second push"
assert_file_contains "$TEST_TMP/again.out" "^pull: 0 pushed .*, 0 pulled .*, $n up to date" "second pull"

note "store B builds the fixture at another path with zero real compiles"
export KACHE_CACHE_DIR=$B
ws2=$(new_workspace ws2)
kcargo "$ws2" build
assert_no_real_compiles "build from the store filled through the custom backend"
assert_app_baseline "$ws2"
