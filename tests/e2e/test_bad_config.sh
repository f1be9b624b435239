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

note "a value of the wrong TOML type: one warning naming the key, the file and the type; the default is used"
export KACHE_CONFIG=$TEST_TMP/conf/typed.toml
export KACHE_CACHE_DIR=$TEST_TMP/store-typed
pcargo "$ws" clean
kcargo "$ws" build
entries=$(count_entries)
assert_ge "$entries" 8 "entries before kache gc"
blobs=$(find "$KACHE_CACHE_DIR/blobs" -type f | wc -l)
# true must not be read as 1 byte (gc would then empty the store), 0 not as false.
printf 'max_size = true\nverify_blobs = 0\nmax_sise = "5G"\n' > "$KACHE_CONFIG"
rc=0
"$KACHE" gc >"$TEST_TMP/gc.out" 2>"$TEST_TMP/gc.err" || rc=$?
sed 's/^/   /' "$TEST_TMP/gc.out" "$TEST_TMP/gc.err"
assert_eq "$rc" 0 "kache gc exit status with mistyped values"
assert_eq "$(count_entries)" "$entries" "entries after kache gc with max_size = true"
assert_eq "$(find "$KACHE_CACHE_DIR/blobs" -type f | wc -l)" "$blobs" "blobs after kache gc with max_size = true"
n=$(grep -c "^kache: warning: .*typed\.toml.*'max_size'.*got a boolean" "$TEST_TMP/gc.err" || true)
assert_eq "$n" 1 "warnings naming max_size, the file and the type it got"
n=$(grep -c "^kache: warning: .*typed\.toml.*'verify_blobs'.*expected a boolean.*got an integer" "$TEST_TMP/gc.err" || true)
assert_eq "$n" 1 "warnings naming verify_blobs, the file and the expected type"
n=$(grep -c "^kache: warning: .*typed\.toml.*'max_sise'.*unknown key" "$TEST_TMP/gc.err" || true)
assert_eq "$n" 1 "warnings naming the unknown key"
assert_eq "$(grep -vc '^kache: warning:' "$TEST_TMP/gc.err" || true)" 0 "other stderr lines from kache gc"

note "verify_blobs = 0 does not turn verification off: a corrupt blob is still caught"
blob=$(find "$KACHE_CACHE_DIR/blobs" -type f -size +10k | head -n 1)
[[ -n $blob ]] || fail "no blob over 10 KiB in the store"
chmod u+w "$blob"
# Same size, other bytes (a new mtime: the restore re-hashes the blob when verifying).
python3 - "$blob" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(st.st_size // 2)
    b = f.read(1)
    f.seek(st.st_size // 2)
    f.write(bytes([b[0] ^ 0xff]))
PY
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_file_contains "$LAST_ERR" "^kache: warning: .*'verify_blobs'" "the build warns about verify_blobs"
assert_file_contains "$LAST_ERR" "corrupt" "the corrupt blob is found (verification stayed on)"
assert_app_baseline "$ws"

note "max_size = 0 and negative durations are out of range: warned, defaults kept"
printf 'max_size = 0\nremote_check_timeout_ms = -5\ndaemon_idle_timeout = "1h"\n' > "$KACHE_CONFIG"
rc=0
"$KACHE" gc >"$TEST_TMP/gc.out" 2>"$TEST_TMP/gc.err" || rc=$?
sed 's/^/   /' "$TEST_TMP/gc.err"
assert_eq "$rc" 0 "kache gc exit status with out-of-range values"
for key in max_size remote_check_timeout_ms daemon_idle_timeout; do
  n=$(grep -c "^kache: warning: .*typed\.toml.*'$key'" "$TEST_TMP/gc.err" || true)
  assert_eq "$n" 1 "warnings naming $key"
done
assert_ge "$(count_entries)" 1 "entries after kache gc with max_size = 0"
