#!/usr/bin/env bash
# kill -9 in the middle of a DOWNLOAD leaves no partial entry or blob in the store, on the
# small fixture and the loopback S3 server behind the fault proxy (every chunk of a reply
# held back, so the largest pack takes seconds to arrive):
#   1. the daemon killed while a remote check downloads the largest pack;
#   2. `kache sync --pull` killed while it downloads.
# After each kill: the store holds no entry of the interrupted pack, `kache doctor --verify`
# is clean, and `kache gc` leaves no temp file and no blob that no entry names; then the
# download is redone and the next build is served entirely from the cache (zero real
# compiles) with the right program output.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

# Each reply chunk (at most 64 KiB) is held this long: the largest pack takes seconds.
slow_ms=400

start_s3
start_fault_proxy

# tmp_files: temp files in the current store's tmp/ (a download in progress lands there).
tmp_files() { find "$KACHE_CACHE_DIR/tmp" -mindepth 1 -type f 2>/dev/null | wc -l; }
# downloading: a temp file holding part of the largest pack is there (more than its first chunk).
downloading() {
  local n
  n=$(find "$KACHE_CACHE_DIR/tmp" -mindepth 1 -type f -size +64k 2>/dev/null | wc -l)
  (( n > 0 ))
}
has_big_entry() { [[ -e $KACHE_CACHE_DIR/entries/${big_k2:0:2}/${big_k2:2} ]]; }

# unreferenced_blobs: blobs of the current store that no entry names.
unreferenced_blobs() {
  local s=$KACHE_CACHE_DIR
  cat "$s"/entries/*/* 2>/dev/null | grep -oE '[0-9a-f]{32,64}' | sort -u > "$TEST_TMP/refs"
  (cd "$s/blobs" 2>/dev/null && find . -type f | sed -E 's|^\./([0-9a-f]+)/|\1|') | sort -u > "$TEST_TMP/blobs"
  comm -23 "$TEST_TMP/blobs" "$TEST_TMP/refs" | wc -l
}

# store_is_whole WHAT: doctor --verify clean; gc leaves no temp file nor orphan blob.
store_is_whole() {
  local rc=0
  "$KACHE" doctor --verify --store-only >"$TEST_TMP/doctor.out" 2>&1 || rc=$?
  [[ $rc == 0 ]] || fail "$1: kache doctor --verify exited $rc: $(cat "$TEST_TMP/doctor.out")"
  "$KACHE" gc >"$TEST_TMP/gc.out" 2>&1 || fail "$1: kache gc failed: $(cat "$TEST_TMP/gc.out")"
  assert_eq "$(tmp_files)" 0 "$1: temp files after kache gc ($(find "$KACHE_CACHE_DIR/tmp" -type f -printf '%f %s bytes, ' 2>/dev/null))"
  sleep 11 # past the few seconds a just-stored blob is spared by gc
  "$KACHE" gc >"$TEST_TMP/gc.out" 2>&1 || fail "$1: kache gc failed: $(cat "$TEST_TMP/gc.out")"
  assert_eq "$(unreferenced_blobs)" 0 "$1: blobs no entry names, after kache gc"
}

# ---------------------------------------------------------------- machine A uploads
note "machine A builds and uploads everything"
machine_a_uploads "$PROXY_ENDPOINT"

# The largest pack (the program's), and the manifest naming it: .../<crate>/<version>/<K1>/<K2>.
big=$(find "$S3_BUCKET_DIR/v1/packs" -name '*.pack._S3rver_object' -printf '%s %p\n' | sort -n | tail -n 1)
big_size=${big%% *}
big_k2=$(basename "${big#* }" .pack._S3rver_object)
big_manifest=$(find "$S3_BUCKET_DIR/v1/manifests" -name "$big_k2._S3rver_object" | head -n 1)
[[ -n $big_manifest ]] || fail "no manifest in the bucket names pack $big_k2"
rel=${big_manifest#"$S3_BUCKET_DIR"/v1/manifests/}
IFS=/ read -r big_crate big_version big_k1 _ <<<"$rel"
echo "   largest pack: $big_crate $big_version K1=$big_k1 K2=$big_k2, $big_size bytes"
assert_ge "$big_size" $((512 * 1024)) "the largest pack's size (it must take several slowed chunks)"

# ---------------------------------------------------------------- 1. the daemon
note "1. machine B's daemon is killed -9 while a remote check downloads the largest pack"
machine b
echo "delay_ms=$slow_ms" > "$PROXY_MODE"
KACHE_REMOTE_CHECK_TIMEOUT_MS=120000 daemon_start
KILL_K1=$big_k1 KILL_CRATE=$big_crate KILL_VERSION=$big_version \
  python3 "$IPC_PY" "$KACHE_CACHE_DIR/daemon.sock" >"$TEST_TMP/check.out" 2>&1 <<'EOF' &
import os
try:
    print(call({"v": 1, "type": "check", "k1": os.environ["KILL_K1"], "crate": os.environ["KILL_CRATE"],
                "version": os.environ["KILL_VERSION"]}, connect(timeout=120)))
except Exception as e:  # the daemon is killed under it: expected
    print("no reply:", e)
EOF
checker=$!
wait_until 60 downloading || fail "no download under way 60 s after the check: $(tail -5 "$KACHE_CACHE_DIR/kached.log")"
kill -9 "$DAEMON_PID"
wait_until 10 pid_gone "$DAEMON_PID" || fail "kached survived kill -9"
wait "$checker" || true
echo "   check client: $(cat "$TEST_TMP/check.out")"
echo "   after the kill: $(count_entries) entries, $(tmp_files) temp files: $(find "$KACHE_CACHE_DIR/tmp" -type f -printf '%f %s bytes, ' 2>/dev/null)"
has_big_entry && fail "the entry of the interrupted pack is in the store (the kill came after the download)"
assert_ge "$(tmp_files)" 1 "temp files left by the killed download"
store_is_whole "after kill -9 of the daemon mid-download"

note "the daemon restarts (remote at full speed): the build redoes the download and hits"
: > "$PROXY_MODE"
KACHE_REMOTE_CHECK_TIMEOUT_MS=30000 daemon_start
ws_b=$(mkdir -p "$TEST_TMP/elsewhere" && new_workspace elsewhere/b-ws)
KACHE_REMOTE_CHECK_TIMEOUT_MS=30000 kcargo "$ws_b" build
assert_no_real_compiles "B's build after the interrupted download"
assert_app_baseline "$ws_b"
has_big_entry || fail "the largest pack's entry is not in B's store after the build"
"$KACHE" daemon stop >/dev/null

# ---------------------------------------------------------------- 2. kache sync --pull
note "2. machine C: kache sync --pull is killed -9 while it downloads"
machine c
ws_c=$(new_workspace c-ws)
echo "delay_ms=$slow_ms" > "$PROXY_MODE"
(cd "$ws_c" && exec "$KACHE" sync --pull) >"$TEST_TMP/pull.out" 2>&1 &
puller=$!
wait_until 60 downloading || fail "no download under way 60 s after sync --pull started: $(cat "$TEST_TMP/pull.out")"
kill -9 "$puller"
wait "$puller" 2>/dev/null || true
echo "   after the kill: $(count_entries) of $entries entries, $(tmp_files) temp files"
has_big_entry && fail "the entry of the interrupted pack is in the store (the kill came after the download)"
assert_ge "$(tmp_files)" 1 "temp files left by the killed pull"
store_is_whole "after kill -9 of kache sync --pull mid-download"

note "the pull is redone (remote at full speed); a build without a remote hits everything"
: > "$PROXY_MODE"
(cd "$ws_c" && "$KACHE" sync --pull) >"$TEST_TMP/pull.out" 2>&1 || fail "kache sync --pull failed: $(cat "$TEST_TMP/pull.out")"
assert_eq "$(count_entries)" "$entries" "entries in C's store after the second pull"
no_remote
kcargo "$ws_c" build
assert_no_real_compiles "C's build after the redone pull"
assert_app_baseline "$ws_c"
