#!/usr/bin/env bash
# A corrupt blob in the store is detected: the crate is recompiled, the build
# succeeds, the program is correct, and the store heals (the recompile puts
# good blobs back, so the next warm build is served without warnings).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

# corrupt_in_place FILE: flips one byte in the middle; the size stays the same.
corrupt_in_place() {
  chmod u+w "$1"
  python3 - "$1" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    data = bytearray(f.read())
    if data:
        data[len(data) // 2] ^= 0xFF
        f.seek(0)
        f.write(data)
PY
}

# assert_healed PHASE: a warm build after cargo clean is fully served, with no
# kache warning about the store.
assert_healed() {
  pcargo "$ws" clean
  ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
  if grep 'kache: warning' "$LAST_ERR"; then
    fail "$1: the store did not heal: the build after the recompiles still found bad blobs (the recompile of an entry kept its other, corrupt blobs?)"
  fi
  assert_no_real_compiles "$1: warm build after the recompiles"
  assert_app_baseline "$ws"
}

note "one truncated blob and one deleted blob"
export KACHE_CACHE_DIR=$TEST_TMP/cache-a
kcargo "$ws" build
units=$(count_real_compiles)
assert_app_baseline "$ws"
[[ -d $KACHE_CACHE_DIR/blobs ]] || fail "no blobs/ directory in the store"
pcargo "$ws" clean
mapfile -t big < <(find "$KACHE_CACHE_DIR/blobs" -type f -size +1k | sort)
(( ${#big[@]} >= 2 )) || fail "expected at least two blobs over 1 KiB, found ${#big[@]}"
chmod u+w "${big[0]}"; : > "${big[0]}"
rm -f "${big[-1]}"
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
n=$(count_real_compiles)
assert_ge "$n" 1 "build with a truncated and a missing blob: real compiles"
# Only the entries whose blob went bad recompile, plus the binary that links them when
# one of them is a workspace member: members compile incrementally, and incremental
# output is not byte-for-byte repeatable, so the binary's link inputs change.
affected=$(grep -oE 'cannot restore [A-Za-z0-9_-]+' "$LAST_ERR" | awk '{print $3}' | sort -u | tr '\n' ' ')
echo "   entries found bad: $affected"
for u in $(compiled_units); do
  crate=${u%%:*}
  [[ " $affected " == *" $crate "* ]] && continue
  [[ $crate == app && $affected =~ (leaf|mid|native|pmacro) ]] && continue
  fail "build with one truncated and one missing blob: $u recompiled, but only $affected (and the binary linking a member) should"
done
assert_le "$n" 3 "build with one truncated and one missing blob: real compiles"
assert_app_baseline "$ws"
assert_healed "truncated and deleted blobs"

note "every blob corrupted in place (same size)"
export KACHE_CACHE_DIR=$TEST_TMP/cache-b
pcargo "$ws" clean
kcargo "$ws" build
pcargo "$ws" clean
nblobs=0
while IFS= read -r -d '' f; do
  corrupt_in_place "$f"
  nblobs=$((nblobs + 1))
done < <(find "$KACHE_CACHE_DIR/blobs" -type f -size +0 -print0)
assert_ge "$nblobs" "$units" "blobs corrupted"
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "build over a store whose every blob is corrupt: real compiles (each entry must be detected as corrupt and recompiled)"
assert_file_contains "$LAST_ERR" '^kache: warning:' "corrupt blobs should be reported with a kache warning"
assert_app_baseline "$ws"
assert_healed "every blob corrupted"
