#!/usr/bin/env bash
# An invalid config file gives one clear warning line naming the file, and the
# build still succeeds with a correct program.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
bad=$TEST_TMP/conf/bad-config.toml
mkdir -p "$(dirname "$bad")"
printf 'this is = = not toml [\n[[[\n' > "$bad"
export KACHE_CONFIG=$bad

note "kache stats with a broken config file"
rc=0
"$KACHE" stats >"$TEST_TMP/stats.out" 2>"$TEST_TMP/stats.err" || rc=$?
cat "$TEST_TMP/stats.err"
assert_eq "$rc" 0 "kache stats exit status with a broken config file (a bad config is not a usage error)"
n=$(grep -c '^kache: warning:.*bad-config\.toml' "$TEST_TMP/stats.err" || true)
assert_eq "$n" 1 "warning lines naming the config file from 'kache stats'"
others=$(grep -v '^kache: warning:' "$TEST_TMP/stats.err" | grep -c . || true)
assert_eq "$others" 0 "other stderr lines from 'kache stats' (the warning must be one line)"

note "build with a broken config file"
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_file_contains "$LAST_ERR" '^kache: warning:.*bad-config\.toml' "build with a broken config: warning naming the file"
# Every kache line is a single warning line; nothing else from kache.
if grep -n 'bad-config\.toml' "$LAST_ERR" | grep -v ':kache: warning:'; then
  fail "a line names the config file but is not a 'kache: warning:' line"
fi
distinct=$(grep 'bad-config\.toml' "$LAST_ERR" | sort -u | wc -l)
assert_eq "$distinct" 1 "distinct warning lines about the config file in one build"
echo "   the warning was printed $(grep -c 'bad-config\.toml' "$LAST_ERR") times in one build"
assert_app_baseline "$ws"

note "a missing config file selected with KACHE_CONFIG does not break the build either"
export KACHE_CONFIG=$TEST_TMP/conf/does-not-exist.toml
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_app_baseline "$ws"

note "a valid config file selected with KACHE_CONFIG is honoured (cache_dir)"
export KACHE_CONFIG=$TEST_TMP/conf/good.toml
printf '# kache e2e\ncache_dir = "%s"\n' "$TEST_TMP/store-from-config" > "$KACHE_CONFIG"
unset KACHE_CACHE_DIR
pcargo "$ws" clean
kcargo "$ws" build
[[ -d $TEST_TMP/store-from-config/entries ]] || fail "no store at the config file's cache_dir $TEST_TMP/store-from-config"
assert_ge "$(find "$TEST_TMP/store-from-config/entries" -type f | wc -l)" 1 "entries under the config file's cache_dir"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build with the store from the config file"
assert_app_baseline "$ws"
