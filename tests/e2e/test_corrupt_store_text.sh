#!/usr/bin/env bash
# Store text files are untrusted input: an entry or manifest with an empty
# line, a truncated line or garbage is corrupt, never a crash. The build goes
# on (the affected crates recompile), the program is right, and `kache list`,
# `kache stats` and `kache gc` finish without a signal, and gc removes what
# the recompiles did not replace. Then a remote pack whose entry has an empty
# line, pulled by `kache sync --pull` from a shared directory: reported as a
# failed transfer, no crash, and the store stays usable.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

# assert_no_signal RC WHAT: a status of 128 or more is a death by signal.
assert_no_signal() {
  (( $1 < 128 )) || fail "$2 died of signal $(( $1 - 128 ))"
}

# inject TEXT FILE...: puts TEXT as a line right after the first line of each FILE
# (one python for all of them).
inject() {
  local text=$1; shift
  chmod u+w "$@"
  python3 - "$text" "$@" <<'PY'
import sys
text = sys.argv[1]
for path in sys.argv[2:]:
    lines = open(path, encoding="utf-8", errors="surrogateescape").read().split("\n")
    lines.insert(1, text)
    open(path, "w", encoding="utf-8", errors="surrogateescape").write("\n".join(lines))
PY
}

kcargo "$ws" build
units=$(count_real_compiles)
assert_app_baseline "$ws"

# corrupt_all WHAT LINE: puts LINE after the header of every file under WHAT
# (entries or manifests), then checks that kache list and kache stats read them
# without a signal, that a build over them recompiles every unit and runs
# right, and that the recompiles put good files back (the next build is served).
corrupt_all() {
  local what=$1 bad=$2 cmd rc f files=()
  note "every file under $what with the line '${bad//$'\t'/\\t}' after its header"
  while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$KACHE_CACHE_DIR/$what" -type f -print0)
  (( ${#files[@]} > 0 )) || fail "no files under $what to corrupt"
  inject "$bad" "${files[@]}"
  for cmd in "list" "stats"; do
    rc=0
    "$KACHE" $cmd >"$TEST_TMP/out" 2>&1 || rc=$?
    assert_no_signal "$rc" "kache $cmd over corrupt $what"
  done
  pcargo "$ws" clean
  ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
  assert_eq "$(count_real_compiles)" "$units" "build over corrupt $what: real compiles"
  assert_app_baseline "$ws"
  rc=0
  "$KACHE" gc >"$TEST_TMP/out" 2>&1 || rc=$?
  assert_no_signal "$rc" "kache gc after a build over corrupt $what"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "warm build after the recompiles"
  assert_app_baseline "$ws"
}

# Entries alone (their manifests are good, so the wrapper reads each entry).
for bad in "" " " "k1" "end extra" $'\t'; do corrupt_all entries "$bad"; done
for bad in "" " " "end extra"; do corrupt_all manifests "$bad"; done

note "kache gc removes entries and manifests that do not parse"
bad_entry=$KACHE_CACHE_DIR/entries/ff/$(printf 'f%.0s' {1..30})
bad_manifest=$KACHE_CACHE_DIR/manifests/ff/$(printf 'e%.0s' {1..30})
mkdir -p "$(dirname "$bad_entry")" "$(dirname "$bad_manifest")"
printf 'kache-entry 1\n\nend\n' > "$bad_entry"
printf 'kache-manifest 1\n\n' > "$bad_manifest"
rc=0
"$KACHE" gc >"$TEST_TMP/out" 2>&1 || rc=$?
assert_no_signal "$rc" "kache gc over a corrupt entry"
assert_eq "$rc" 0 "kache gc exit code"
assert_file_contains "$TEST_TMP/out" "removed 2 corrupt" "kache gc reports the corrupt files"
[[ ! -e $bad_entry && ! -e $bad_manifest ]] || fail "kache gc left a corrupt entry or manifest"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after gc"

note "a remote pack whose entry has an empty line: kache sync --pull reports it, no crash"
command -v zstd >/dev/null || fail "the zstd command is needed (scripts/install-deps.sh installs it)"
R=$TEST_TMP/remote
mkdir -p "$R"
n=$(count_entries)
rc=0
(cd "$TEST_TMP" && KACHE_REMOTE_DIR=$R "$KACHE" sync --push) >"$TEST_TMP/out" 2>&1 || rc=$?
assert_eq "$rc" 0 "kache sync --push exit code"
# Every entry is pushed, or skipped because its manifest no longer lists the input set
# that made it (the corrupt-manifest rounds above rebuilt the binary against rlibs whose
# bytes changed: incremental compiles are not byte-for-byte repeatable).
pushed=$(grep -oE '^[0-9]+ pushed' "$TEST_TMP/out" | cut -d' ' -f1)
skipped=$(grep -oE '[0-9]+ skipped' "$TEST_TMP/out" | cut -d' ' -f1)
assert_eq "$((pushed + skipped))" "$n" "entries pushed or skipped: $(cat "$TEST_TMP/out")"
assert_ge "$pushed" 8 "entries pushed (one per unit at least)"
assert_eq "$(find "$R/v1/packs" -type f -name '*.pack' | wc -l)" "$pushed" "packs in the shared directory"
# The pack of the crate at the bottom of the chain (itoa): "KPACK1\n", u32 length, entry text, ...
victim=$(find "$R/v1/packs/itoa" -type f -name '*.pack' | head -n 1)
[[ -n $victim ]] || fail "no pack of itoa in the shared directory"
zstd -q -d -c "$victim" > "$TEST_TMP/pack.raw"
python3 - "$TEST_TMP/pack.raw" <<'PY'
import struct, sys
path = sys.argv[1]
data = open(path, "rb").read()
assert data[:7] == b"KPACK1\n", "not a pack"
n = struct.unpack("<I", data[7:11])[0]
entry = data[11:11 + n]
head, rest = entry.split(b"\n", 1)
entry = head + b"\n\n" + rest  # an empty line right after the header
open(path, "wb").write(data[:7] + struct.pack("<I", len(entry)) + entry + data[11 + n:])
PY
chmod u+w "$victim"
zstd -q -f --check "$TEST_TMP/pack.raw" -o "$victim"

export KACHE_CACHE_DIR=$TEST_TMP/machine-b/cache
ws2=$TEST_TMP/machine-b/ws
mkdir -p "$(dirname "$ws2")"
cp -r "$FIXTURES/chain" "$ws2"
rm -rf "$ws2/target"
rc=0
(cd "$ws2" && KACHE_REMOTE_DIR=$R "$KACHE" sync --pull) >"$TEST_TMP/out" 2>"$TEST_TMP/err" || rc=$?
sed 's/^/   /' "$TEST_TMP/out" "$TEST_TMP/err" | head -n 10
assert_no_signal "$rc" "kache sync --pull of a pack with a corrupt entry"
assert_ne "$rc" 0 "kache sync --pull exit code with a corrupt pack"
assert_file_contains "$TEST_TMP/out" "1 failed" "the corrupt pack counts as a failed transfer"
assert_file_contains "$TEST_TMP/err" "itoa" "the failure names the object"
assert_eq "$(count_entries)" "$((pushed - 1))" "entries pulled around the corrupt pack"
[[ -z $(find "$KACHE_CACHE_DIR/tmp" -mindepth 1 2>/dev/null) ]] || fail "files left in the store's tmp/"
for cmd in "list" "stats" "gc"; do
  rc=0
  "$KACHE" $cmd >"$TEST_TMP/out" 2>&1 || rc=$?
  assert_no_signal "$rc" "kache $cmd after pulling a corrupt pack"
  assert_eq "$rc" 0 "kache $cmd exit code after pulling a corrupt pack"
done
# The store is usable: the crate whose pack was bad compiles (and at most what depends on it).
kcargo "$ws2" build
assert_compiled 'itoa:itoa' "build after a pull with one corrupt pack"
assert_le "$(count_real_compiles)" "$((units - 1))" "real compiles after a pull with one corrupt pack"
assert_app_baseline "$ws2"
