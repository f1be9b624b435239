#!/usr/bin/env bash
# `kache sync` through a shared directory (KACHE_REMOTE_DIR): store A builds the chain
# fixture and pushes; an empty store B at another path pulls inside a copy of the
# workspace and builds it with zero real compiles. Also: a second push sends nothing,
# --dry-run changes nothing, the Cargo.lock limits a pull (--all lifts that), a missing
# pack fails the pull unless --allow-partial, a read-only remote refuses --push.
# Builds stay free of any remote (no daemon): only `kache sync` moves entries.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

R=$TEST_TMP/remote
mkdir -p "$R"
SYNC_OUT=$TEST_TMP/sync.out
SYNC_ERR=$TEST_TMP/sync.err

# ksync DIR ARGS...: `kache sync ARGS` run in DIR against $R; sets SYNC_RC.
ksync() {
  local dir=$1
  shift
  SYNC_RC=0
  (cd "$dir" && KACHE_REMOTE_DIR=$R "$KACHE" sync "$@") >"$SYNC_OUT" 2>"$SYNC_ERR" || SYNC_RC=$?
  echo "   \$ kache sync $* [in ${dir#$TEST_TMP/}] -> exit $SYNC_RC: $(cat "$SYNC_OUT")"
  if [[ -s $SYNC_ERR ]]; then sed 's/^/     stderr: /' "$SYNC_ERR" | head -n 5; fi
}

# synced WORD: the count before WORD ("pushed", "pulled", "up to date", "failed") in the last summary.
synced() { grep -oE "[0-9]+ $1" "$SYNC_OUT" | head -n 1 | cut -d' ' -f1; }

# store_listing DIR: every file of a store but tmp/, with size and content hash.
store_listing() {
  (cd "$1" && find . -path ./tmp -prune -o -type f -print0 | sort -z | xargs -0r md5sum)
}

remote_packs() { find "$R/v1/packs" -type f -name '*.pack' 2>/dev/null | wc -l; }
remote_manifests() { find "$R/v1/manifests" -type f 2>/dev/null | wc -l; }

note "store A: cold build of the fixture"
ws=$(new_workspace ws)
kcargo "$ws" build
A=$KACHE_CACHE_DIR
n=$(count_entries)
assert_ge "$n" 8 "entries in store A"

note "push A to the shared directory"
ksync "$TEST_TMP"
assert_eq "$SYNC_RC" 0 "kache sync --push exit code"
assert_eq "$(synced pushed)" "$n" "entries pushed"
assert_eq "$(synced failed)" 0 "failed transfers"
assert_eq "$(remote_packs)" "$n" "packs in the shared directory"
assert_eq "$(remote_manifests)" "$n" "manifest objects in the shared directory"
assert_eq "$(find "$A/tmp" -mindepth 1 | wc -l)" 0 "files left in store A's tmp/"

note "a second push sends nothing"
ksync "$TEST_TMP" --push
assert_eq "$(synced pushed)" 0 "entries pushed the second time"
assert_eq "$(synced 'up to date')" "$n" "entries up to date"

note "store B, another path: --dry-run pulls nothing"
B=$TEST_TMP/machine-b/cache
export KACHE_CACHE_DIR=$B
ws2=$TEST_TMP/machine-b/checkout/ws
mkdir -p "$(dirname "$ws2")"
cp -r "$FIXTURES/chain" "$ws2"
rm -rf "$ws2/target"
ksync "$ws2" --pull --dry-run
assert_eq "$SYNC_RC" 0 "kache sync --pull --dry-run exit code"
assert_file_contains "$SYNC_OUT" "^dry run: would have .* $n pulled" "dry run summary"
assert_eq "$(count_entries)" 0 "entries in store B after a dry run"

note "store B pulls inside the workspace and builds with zero real compiles"
ksync "$ws2" --pull
assert_eq "$SYNC_RC" 0 "kache sync --pull exit code"
assert_eq "$(synced pulled)" "$n" "entries pulled"
assert_eq "$(count_entries)" "$n" "entries in store B"
kcargo "$ws2" build
assert_no_real_compiles "build from the pulled store"
assert_app_baseline "$ws2"
ksync "$ws2" --pull
assert_eq "$(synced pulled)" 0 "entries pulled the second time"

note "the Cargo.lock limits a pull; --all lifts the limit"
export KACHE_CACHE_DIR=$TEST_TMP/machine-c/cache
lockdir=$TEST_TMP/machine-c/only-two
mkdir -p "$lockdir"
printf '# a lock file naming two of the packages\nversion = 3\n\n[[package]]\nname = "itoa"\nversion = "1.0.1"\n\n[[package]]\nname = "leaf"\nversion = "0.1.0"\n' \
  > "$lockdir/Cargo.lock"
want=$(find "$R/v1/manifests/itoa" "$R/v1/manifests/leaf" -type f | wc -l)
assert_ge "$want" 2 "remote manifest objects of itoa and leaf"
ksync "$lockdir" --pull
assert_eq "$(synced pulled)" "$want" "entries pulled for the packages of the Cargo.lock"
assert_eq "$(count_entries)" "$want" "entries in store C"
ksync "$lockdir" --pull --all
assert_eq "$(synced pulled)" "$((n - want))" "entries pulled with --all"
assert_eq "$(count_entries)" "$n" "entries in store C after --all"

note "a pack missing from the remote: the pull fails, unless --allow-partial"
missing=$(find "$R/v1/packs/itoa" -type f -name '*.pack' | head -n 1)
[[ -n $missing ]] || fail "no pack of itoa in the shared directory"
mv "$missing" "$TEST_TMP/held-back.pack"
export KACHE_CACHE_DIR=$TEST_TMP/machine-d/cache
ksync "$ws2" --pull
assert_ne "$SYNC_RC" 0 "kache sync --pull exit code with a pack missing"
assert_eq "$(synced failed)" 1 "failed transfers"
assert_eq "$(synced pulled)" "$((n - 1))" "entries pulled around the missing pack"
assert_file_contains "$SYNC_ERR" "failed: v1/manifests/itoa/" "the failure names the object"
assert_eq "$(count_entries)" "$((n - 1))" "entries in store D"
export KACHE_CACHE_DIR=$TEST_TMP/machine-e/cache
ksync "$ws2" --pull --allow-partial
assert_eq "$SYNC_RC" 0 "kache sync --pull --allow-partial exit code"
assert_eq "$(synced failed)" 1 "failed transfers with --allow-partial"
assert_eq "$(count_entries)" "$((n - 1))" "entries in store E"
mv "$TEST_TMP/held-back.pack" "$missing"

note "a read-only remote refuses --push and changes nothing"
export KACHE_CACHE_DIR=$A
before=$(cd "$R" && find . -type f | sort | md5sum)
KACHE_REMOTE_READONLY=1 ksync "$TEST_TMP" --push
assert_ne "$SYNC_RC" 0 "kache sync --push exit code on a read-only remote"
assert_file_contains "$SYNC_ERR" "read-only" "the message says why"
assert_eq "$(cd "$R" && find . -type f | sort | md5sum)" "$before" "the shared directory after a refused push"

note "a missing shared directory is an error that names it, and store A is unchanged"
store_listing "$A" > "$TEST_TMP/a.before"
rc=0
(cd "$TEST_TMP" && KACHE_REMOTE_DIR=$TEST_TMP/not-mounted "$KACHE" sync) >"$SYNC_OUT" 2>"$SYNC_ERR" || rc=$?
assert_ne "$rc" 0 "kache sync exit code without its directory"
assert_file_contains "$SYNC_ERR" "not-mounted" "the message names the directory"
store_listing "$A" > "$TEST_TMP/a.after"
assert_same_file "$TEST_TMP/a.before" "$TEST_TMP/a.after" "store A after a failed sync"
