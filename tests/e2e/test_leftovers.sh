#!/usr/bin/env bash
# Leftovers are collected promptly, not after an hour: (a) a temp file whose writer was
# killed goes at the next `kache gc`, one a live process holds stays; (b) a build on a full
# tmpfs store succeeds and its orphan blobs and temps go at the next gc; (c) an unparseable
# upload intent is removed with a log line when the daemon starts; (d) a shared-directory
# remote that is full: the upload fails, the intent stays, and once space is freed it is
# uploaded without a restart (retried with backoff); (e) an intent written while no daemon
# ran is uploaded within seconds of the daemon starting.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

MOUNTS=()
umount_all() { local m; for m in "${MOUNTS[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap 'rc=$?; umount_all; (exit $rc); _daemon_cleanup' EXIT

# small_tmpfs DIR: a 2 MiB tmpfs at DIR, or skip.
small_tmpfs() {
  mkdir -p "$1"
  mount -t tmpfs -o size=2m,mode=0700 tmpfs "$1" 2>/dev/null || skip "cannot mount a tmpfs (needs root): $1"
  MOUNTS+=("$1")
}

# fill DIR: writes a file until the filesystem is full.
fill() { dd if=/dev/zero of="$1/filler" bs=16k 2>/dev/null || true; }

# unreferenced_blobs: blobs of the current store no entry names.
unreferenced_blobs() {
  local s=$KACHE_CACHE_DIR
  cat "$s"/entries/*/* 2>/dev/null | grep -oE '[0-9a-f]{32,64}' | sort -u > "$TEST_TMP/refs"
  (cd "$s/blobs" 2>/dev/null && find . -type f | sed -E 's|^\./([0-9a-f]+)/|\1|') | sort -u > "$TEST_TMP/blobs"
  comm -23 "$TEST_TMP/blobs" "$TEST_TMP/refs" | wc -l
}

# want PART: run this part (LEFTOVERS_PARTS="b d" runs only those, e.g. to check
# each against an older build).
want() { [[ " ${LEFTOVERS_PARTS:-a b c d e} " == *" $1 "* ]]; }

tmp_count() { find "$KACHE_CACHE_DIR/tmp" -mindepth 1 2>/dev/null | wc -l; }
kgc() { "$KACHE" gc >"$TEST_TMP/gc.out" 2>&1 || fail "kache gc failed: $(cat "$TEST_TMP/gc.out")"; }

if want a; then
note "(a) a temp file of a killed writer goes at the next gc; one a live process holds stays"
machine a
no_remote
ws=$(new_workspace ws)
kcargo "$ws" build
T=$KACHE_CACHE_DIR/tmp
# A writer killed with -9 mid-write: its temp file carries its pid and nobody holds it.
bash -c 'exec 3>"$1/.tmp.$$.killed"; head -c 100000 /dev/zero >&3; kill -9 $$' _ "$T" || true
ls "$T"/.tmp.*.killed >/dev/null 2>&1 || fail "the killed writer left no temp file"
# A live writer: its pid runs (and started before the file was made).
sleep 300 &
live=$!
echo partial > "$T/.tmp.$live.live"
# A live writer whose name carries another (dead) pid but holds the file's flock.
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "w"); fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close(); time.sleep(300)' "$T/.tmp.999999999.held" "$TEST_TMP/held.ready" &
holder=$!
wait_until 10 test -e "$TEST_TMP/held.ready" || fail "the lock holder did not start"
kgc
assert_eq "$(find "$T" -name '.tmp.*.killed' | wc -l)" 0 "temp files of the killed writer after kache gc"
assert_eq "$(find "$T" -name ".tmp.$live.live" | wc -l)" 1 "temp file of a live writer after kache gc"
assert_eq "$(find "$T" -name '.tmp.999999999.held' | wc -l)" 1 "temp file whose flock is held after kache gc"
kill "$live" "$holder" 2>/dev/null || true
wait "$live" "$holder" 2>/dev/null || true
kgc
assert_eq "$(tmp_count)" 0 "temp files once their writers are gone"

fi
if want b; then
note "(b) a full tmpfs store: the build succeeds, orphans and temps go at the next gc"
small_tmpfs "$TEST_TMP/fullstore"
export KACHE_CACHE_DIR=$TEST_TMP/fullstore/cache
mkdir -m 700 "$KACHE_CACHE_DIR"
ws_b=$(new_workspace ws_b)
# 2 MiB do not hold the fixture's outputs: recording fails part-way (a warning per crate).
ALLOW_KACHE_WARNINGS=1 kcargo "$ws_b" build
assert_app_baseline "$ws_b"
assert_file_contains "$LAST_ERR" "No space left on device" "the build ran into the full store"
# Not a byte left: the build still succeeds (the files rustc writes for kache,
# its linker command line and a probe's dep-info, go beside rustc's own outputs).
fill "$TEST_TMP/fullstore"
pcargo "$ws_b" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws_b" build
assert_app_baseline "$ws_b"
rm -f "$TEST_TMP/fullstore/filler"
# Plant what an interrupted recording leaves: a blob no entry names, a dead writer's temp.
orphan=$(printf 'orphan blob %s' "$RANDOM" | md5sum | cut -c1-32)
mkdir -p "$KACHE_CACHE_DIR/blobs/${orphan:0:2}"
echo orphan > "$KACHE_CACHE_DIR/blobs/${orphan:0:2}/${orphan:2}"
bash -c 'echo x > "$1/.tmp.$$.dead"' _ "$KACHE_CACHE_DIR/tmp"
# Past the few seconds a just-stored blob is always spared (10 s): dated back, not waited for.
touch -d "@$(( $(date +%s) - 11 ))" "$KACHE_CACHE_DIR/blobs/${orphan:0:2}/${orphan:2}"
kgc
cat "$TEST_TMP/gc.out"
assert_eq "$(unreferenced_blobs)" 0 "blobs no entry names, after kache gc"
assert_eq "$(tmp_count)" 0 "temp files after kache gc"

fi
if want c; then
note "(c) an unparseable upload intent is removed with a log line at daemon start"
machine c
R=$TEST_TMP/remote-c
mkdir -p "$R"
export KACHE_REMOTE_DIR=$R
Q=$KACHE_CACHE_DIR/upload-queue
mkdir -p -m 700 "$Q"
echo 'not an intent' > "$Q/garbage"
echo 'zz' > "$Q/0123456789abcdef0123456789abcdef"
daemon_start
LOG=$KACHE_CACHE_DIR/kached.log
wait_until 10 test ! -e "$Q/garbage" || fail "the unparseable intent 'garbage' is still there 10 s after the daemon started"
assert_eq "$(find "$Q" -type f | wc -l)" 0 "intents left in the queue"
assert_file_contains "$LOG" "unparseable upload intent.*garbage" "the log names the removed intent"
"$KACHE" daemon stop >/dev/null 2>&1 || true
wait_until 10 pid_gone "$DAEMON_PID" || fail "kached did not stop"

fi
if want e; then
note "(e) an intent written while no daemon ran is uploaded within seconds of the start"
machine e
no_remote
ws_e=$(new_workspace ws_e)
kcargo "$ws_e" build
k2s=$(cd "$KACHE_CACHE_DIR/entries" && find . -type f | sed -E 's|^\./([0-9a-f]+)/|\1|' | head -n 3)
mkdir -p -m 700 "$KACHE_CACHE_DIR/upload-queue"
for k in $k2s; do echo "$k" > "$KACHE_CACHE_DIR/upload-queue/$k"; done
assert_eq "$(intents)" 3 "intents written while no daemon ran"
R=$TEST_TMP/remote-e
mkdir -p "$R"
export KACHE_REMOTE_DIR=$R
daemon_start
wait_until 8 queue_drained || fail "intents still queued 8 s after the daemon started: $(intents) on disk"
assert_eq "$(find "$R/v1/packs" -name '*.pack' | wc -l)" 3 "packs in the shared directory"
"$KACHE" daemon stop >/dev/null 2>&1 || true
wait_until 10 pid_gone "$DAEMON_PID" || fail "kached did not stop"

fi
if want d; then
note "(d) a full shared-directory remote: the intent stays, and uploads once space is freed"
machine d
no_remote
ws_d=$(new_workspace ws_d)
kcargo "$ws_d" build
k2=$(cd "$KACHE_CACHE_DIR/entries" && find . -type f | sed -E 's|^\./([0-9a-f]+)/|\1|' | head -n 1)
R=$TEST_TMP/remote-d
small_tmpfs "$R"
fill "$R"
mkdir -p -m 700 "$KACHE_CACHE_DIR/upload-queue"
echo "$k2" > "$KACHE_CACHE_DIR/upload-queue/$k2"
export KACHE_REMOTE_DIR=$R
daemon_start
LOG=$KACHE_CACHE_DIR/kached.log
wait_until 10 grep -q "upload of $k2 failed" "$LOG" || fail "no failed upload logged: $(tail -5 "$LOG")"
assert_file_contains "$LOG" "No space left on device" "the failure says the remote is full"
assert_eq "$(intents)" 1 "intents after the failed upload"
rm -f "$R/filler"
wait_until 20 queue_drained || fail "the intent was not uploaded within 20 s of freeing space: $(tail -5 "$LOG")"
assert_eq "$(find "$R/v1/packs" -name '*.pack' | wc -l)" 1 "packs in the shared directory"
assert_eq "$(status_field pid)" "$DAEMON_PID" "the daemon that uploaded (no restart)"
fi
