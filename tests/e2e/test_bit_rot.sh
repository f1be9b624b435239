#!/usr/bin/env bash
# Bit rot with an intact stamp: a blob whose bytes change in place while its size and
# mtime stay is not caught by the restore's fast path (the stat-keyed hash cache). The
# slow paths catch it: `kache doctor --verify` names it and exits non-zero, `--repair`
# removes it (and the entry naming it), and the next build recompiles the crate and the
# program is right; the daemon's background scrub finds and removes such a blob by itself.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

ws=$(new_workspace ws)
exe=$ws/target/debug/fixture-app

# exe_blob: the store blob holding the program's bytes.
exe_blob() {
  local f
  while IFS= read -r -d '' f; do
    if cmp -s "$f" "$exe"; then echo "$f"; return; fi
  done < <(find "$KACHE_CACHE_DIR/blobs" -type f -size +64k -print0)
  fail "no blob in the store holds the bytes of $exe"
}

# rot BLOB: "hello from data" -> "jello from data" inside the blob, in place; size,
# mtime (to the nanosecond) and inode kept, as bit rot would leave them.
rot() {
  python3 - "$1" <<'PY' || fail "cannot corrupt $1"
import os, stat, sys
p = sys.argv[1]
st = os.stat(p)
os.chmod(p, 0o644)
with open(p, "r+b") as f:
    data = f.read()
    at = data.find(b"hello from data")
    if at < 0:
        sys.exit("the greeting is not in the blob")
    f.seek(at)
    f.write(b"j")
os.chmod(p, stat.S_IMODE(st.st_mode))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
after = os.stat(p)
assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
PY
}

note "build, then rot the program's blob with its stamp kept"
kcargo "$ws" build
assert_app_baseline "$ws"
blob=$(exe_blob)
hex=$(basename "$(dirname "$blob")")$(basename "$blob")
rot "$blob"

# What the fast path alone does (for the log; not asserted: doctor and the scrub are the cure).
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
if [[ $(count_real_compiles) == 0 ]] && "$exe" | grep -q '^greeting=jello'; then
  note "the restore's fast path served the rotten program, as expected (its stamp is intact)"
fi

# kache doctor also checks cargo's wiring and the free space against max_size: both pass here,
# so that the store's integrity alone decides its exit status.
kdoctor() { RUSTC_WRAPPER=$KACHE KACHE_MAX_SIZE=1G "$KACHE" doctor "$@"; }

note "kache doctor --verify names the rotten blob and exits non-zero"
rc=0
kdoctor --verify >"$TEST_TMP/doctor.out" 2>"$TEST_TMP/doctor.err" || rc=$?
cat "$TEST_TMP/doctor.out"
[[ $rc != 0 ]] || fail "kache doctor --verify exited 0 over a store with a rotten blob"
[[ $rc != 2 ]] || fail "kache doctor --verify: usage error: $(cat "$TEST_TMP/doctor.err")"
assert_file_contains "$TEST_TMP/doctor.out" "^problem: blob $hex is corrupt.*--repair" "doctor --verify names the blob and the fix"
assert_file_contains "$TEST_TMP/doctor.out" "^problem: entry [0-9a-f]+ of app names corrupt blob $hex" "doctor --verify names the entry of the crate"
[[ -e $blob ]] || fail "doctor without --repair removed the blob"
[[ ! -s $TEST_TMP/doctor.err ]] || fail "doctor printed on stderr without a terminal: $(cat "$TEST_TMP/doctor.err")"
kdoctor >"$TEST_TMP/doctor-quick.out" || fail "kache doctor (no --verify) should find nothing: $(cat "$TEST_TMP/doctor-quick.out")"

note "kache doctor --verify --repair removes it; the next build recompiles and is right"
rc=0
kdoctor --verify --repair >"$TEST_TMP/repair.out" 2>&1 || rc=$?
cat "$TEST_TMP/repair.out"
[[ $rc == 1 ]] || fail "doctor --verify --repair should exit 1 (it found a problem), got $rc"
assert_file_contains "$TEST_TMP/repair.out" "^repaired: blob $hex is corrupt" "repair names the blob"
[[ ! -e $blob ]] || fail "doctor --repair left the rotten blob in the store"
kdoctor --verify >"$TEST_TMP/doctor2.out" || fail "doctor --verify after the repair still finds problems: $(cat "$TEST_TMP/doctor2.out")"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'app:fixture_app' "the build after the repair recompiles the program"
assert_app_baseline "$ws"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after the repair"
assert_app_baseline "$ws"

note "the daemon's scrub finds a rotten blob by itself and removes it"
blob=$(exe_blob)
hex=$(basename "$(dirname "$blob")")$(basename "$blob")
rot "$blob"
export KACHE_CONFIG=$TEST_TMP/config.toml
echo 'scrub_rate = "256M"' >"$KACHE_CONFIG"
daemon_start
wait_until 30 test ! -e "$blob" || fail "the scrub did not remove the rotten blob within 30 s (log: $(tail -5 "$KACHE_CACHE_DIR/kached.log" 2>/dev/null))"
assert_file_contains "$KACHE_CACHE_DIR/kached.log" "scrub: blob $hex was corrupt.*entries of app" "the scrub logs the blob and the crate"
wait_until 30 grep -q '^done ' "$KACHE_CACHE_DIR/scrub-position" || fail "the scrub did not record its finished pass"
"$KACHE" daemon stop >/dev/null 2>&1 || fail "kache daemon stop failed"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'app:fixture_app' "the build after the scrub recompiles the program"
assert_app_baseline "$ws"
