#!/usr/bin/env bash
# The command line: --version, --help, stats (--json, --zero), list, purge.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# run_kache NAME ARGS...: runs kache ARGS, stdout to $TEST_TMP/NAME.out, stderr
# to $TEST_TMP/NAME.err; sets krc to the exit status.
run_kache() {
  local name=$1; shift
  krc=0
  "$KACHE" "$@" >"$TEST_TMP/$name.out" 2>"$TEST_TMP/$name.err" || krc=$?
  echo "   \$ kache $* -> exit $krc"
}

note "--version and --help"
run_kache version --version
assert_eq "$krc" 0 "kache --version exit status"
assert_file_contains "$TEST_TMP/version.out" '^kache [0-9]+\.[0-9]+\.[0-9]+' "kache --version output"
run_kache help --help
assert_eq "$krc" 0 "kache --help exit status"
for word in stats list purge; do
  assert_file_contains "$TEST_TMP/help.out" "$word" "kache --help should mention '$word'"
done

note "a usage error"
run_kache usage no-such-command
assert_ne "$krc" 0 "kache no-such-command exit status"
[[ -s $TEST_TMP/usage.err ]] || fail "kache no-such-command printed nothing on stderr"
run_kache usage2 stats --no-such-flag
assert_ne "$krc" 0 "kache stats --no-such-flag exit status"

note "stats on an empty store"
run_kache stats0 stats --json
assert_eq "$krc" 0 "kache stats --json on an empty store"
python3 - "$TEST_TMP/stats0.out" <<'PY' || fail "kache stats --json on an empty store"
import json, sys
text = open(sys.argv[1]).read()
d = json.loads(text)
assert isinstance(d, dict), "not one JSON object"
missing = [k for k in ("hits", "misses", "passthroughs", "errors", "hit_rate",
                       "time_saved_ms", "store_bytes", "entries") if k not in d]
assert not missing, "missing keys: %s" % missing
assert d["entries"] == 0 and d["hits"] == 0 and d["misses"] == 0, d
PY
run_kache stats_h stats
assert_eq "$krc" 0 "kache stats"
[[ -s $TEST_TMP/stats_h.out ]] || fail "kache stats printed nothing"

note "a cold and a warm build"
ws=$(new_workspace ws)
kcargo "$ws" build
units=$(count_real_compiles)
on_disk=$(count_entries)
assert_eq "$(stats_field misses)" "$units" "stats misses after the cold build"
assert_eq "$(stats_field hits)" 0 "stats hits after the cold build"
assert_eq "$(stats_field entries)" "$on_disk" "stats entries vs entry files on disk"
assert_eq "$on_disk" "$units" "one entry per compiled unit"
assert_ge "$(stats_field store_bytes)" 100000 "stats store_bytes after a build"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build"
assert_eq "$(stats_field hits)" "$units" "stats hits after the warm build"
assert_eq "$(stats_field misses)" "$units" "stats misses after the warm build"
assert_eq "$(stats_field errors)" 0 "stats errors"
rate=$(stats_field hit_rate)
python3 -c 'import sys; r=float(sys.argv[1]); sys.exit(0 if 0.3 <= r <= 0.7 or 30 <= r <= 70 else 1)' "$rate" \
  || fail "stats hit_rate should be about one half (0.5, or 50 %) after one cold and one warm build, got $rate"
assert_ge "$(stats_field time_saved_ms)" 0 "stats time_saved_ms"

note "list"
run_kache list list
assert_eq "$krc" 0 "kache list"
assert_eq "$(grep -c . "$TEST_TMP/list.out")" "$units" "kache list: one line per entry"
for c in leaf mid itoa pmacro native; do
  grep -q "^$c\b" "$TEST_TMP/list.out" || fail "kache list: no line starting with crate '$c'"
done
grep -qE '^(fixture_app|fixture-app|app)\b' "$TEST_TMP/list.out" || fail "kache list: no line for the binary"
run_kache list_leaf list leaf
assert_eq "$krc" 0 "kache list leaf"
n_leaf=$(grep -c . "$TEST_TMP/list_leaf.out" || true)
assert_ge "$n_leaf" 1 "kache list leaf: lines"
if grep -v '^leaf\b' "$TEST_TMP/list_leaf.out"; then fail "kache list leaf shows other crates"; fi
run_kache list_none list no_such_crate
assert_eq "$(grep -c . "$TEST_TMP/list_none.out" || true)" 0 "kache list no_such_crate: lines"

note "stats --zero clears the counters, not the store"
run_kache zero stats --zero
assert_eq "$krc" 0 "kache stats --zero"
assert_eq "$(stats_field hits)" 0 "hits after --zero"
assert_eq "$(stats_field misses)" 0 "misses after --zero"
assert_eq "$(stats_field entries)" "$units" "entries after --zero"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after stats --zero"
assert_eq "$(stats_field hits)" "$units" "hits counted again after --zero"

note "purge --crate leaf"
run_kache purge_leaf purge --crate leaf
assert_eq "$krc" 0 "kache purge --crate leaf"
run_kache list_leaf2 list leaf
assert_eq "$(grep -c . "$TEST_TMP/list_leaf2.out" || true)" 0 "kache list leaf after purging leaf"
assert_eq "$(count_entries)" "$(( units - n_leaf ))" "entries on disk after purging leaf's $n_leaf"
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'leaf:leaf' "leaf after purge --crate leaf"
assert_not_compiled 'itoa:itoa|mid:mid|pmacro:pmacro' "other crates after purge --crate leaf"
assert_app_baseline "$ws"

note "purge"
run_kache purge purge
assert_eq "$krc" 0 "kache purge"
assert_eq "$(stats_field entries)" 0 "stats entries after purge"
assert_eq "$(count_entries)" 0 "entry files on disk after purge"
run_kache list2 list
assert_eq "$(grep -c . "$TEST_TMP/list2.out" || true)" 0 "kache list after purge"
blobs=$(find "$KACHE_CACHE_DIR/blobs" -type f 2>/dev/null | wc -l)
assert_eq "$blobs" 0 "blobs left after purge"
pcargo "$ws" clean
kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "real compiles after purge"
assert_app_baseline "$ws"
