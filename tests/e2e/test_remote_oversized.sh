#!/usr/bin/env bash
# A pack on the S3 remote far larger than any pack the pulling store may take (someone
# wrote it, or a server answers with it): on the small fixture and the real loopback S3
# server, with the object's file replaced in the server's data directory by a 512 MiB one.
#   1. `kache sync --pull` into a store capped at 40 MiB (packs of at most ~10 MiB) stops
#      that download at its bound, with one line that names the object and the fix, and
#      pulls every other entry (nothing else is lost);
#   2. a build through the daemon with that remote still succeeds (the unit compiles
#      locally) with the right program output: a cache error is never a build error.
# Without the bound the whole 512 MiB is downloaded beside the store before it is refused.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

start_s3

note "machine A builds and uploads everything"
machine_a_uploads "$S3_ENDPOINT"

# The largest pack becomes 512 MiB (sparse: no disk is spent on it).
big=$(find "$S3_BUCKET_DIR/v1/packs" -name '*.pack._S3rver_object' -printf '%s %p\n' | sort -n | tail -n 1)
big_path=${big#* }
big_k2=$(basename "$big_path" .pack._S3rver_object)
truncate -s 512M "$big_path"
echo "   pack $big_k2 is now $(stat -c %s "$big_path") bytes on the server"

note "1. machine B: kache sync --pull into a store capped at 40 MiB"
machine b
use_remote "$S3_ENDPOINT"
export KACHE_MAX_SIZE=40M
ws_b=$(new_workspace b-ws)
rc=0
t0=$(now_ms)
(cd "$ws_b" && "$KACHE" sync --pull) >"$TEST_TMP/pull.out" 2>&1 || rc=$?
t_pull=$(( $(now_ms) - t0 ))
echo "   kache sync --pull: exit $rc after ${t_pull} ms"
grep -F "$big_k2" "$TEST_TMP/pull.out" | sed 's/^/   /'
(( rc < 128 )) || fail "kache sync --pull died of signal $(( rc - 128 ))"
n=$(grep -F "$big_k2" "$TEST_TMP/pull.out" | grep -c "kache never writes an object that large: remove it from the remote" || true)
assert_eq "$n" 1 "lines naming the oversized pack $big_k2 and the fix"
assert_eq "$(count_entries)" $(( entries - 1 )) "entries pulled (all but the oversized pack's)"
[[ -e $KACHE_CACHE_DIR/entries/${big_k2:0:2}/${big_k2:2} ]] && fail "the oversized pack's entry is in the store"
left=$(find "$KACHE_CACHE_DIR/tmp" -mindepth 1 -type f 2>/dev/null | wc -l)
assert_eq "$left" 0 "temp files left by the pull"

note "2. machine C: a build through the daemon with that remote succeeds"
machine c
use_remote "$S3_ENDPOINT"
daemon_start
ws_c=$(new_workspace c-ws)
KACHE_REMOTE_CHECK_TIMEOUT_MS=30000 kcargo "$ws_c" build
assert_app_baseline "$ws_c"
assert_ge "$(count_real_compiles)" 1 "units compiled locally (the oversized pack's)"
assert_file_contains "$(status_field log_file)" "kache never writes an object that large" "daemon log"
"$KACHE" daemon stop >/dev/null
