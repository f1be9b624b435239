#!/usr/bin/env bash
# A cache dir that cannot be used still builds, with a kache warning: the cache
# never breaks a build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "KACHE_CACHE_DIR is a regular file"
echo "not a directory" > "$TEST_TMP/plain-file"
export KACHE_CACHE_DIR=$TEST_TMP/plain-file
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
units=$(count_real_compiles)
assert_ge "$units" 8 "real compiles with a broken cache dir"
assert_file_contains "$LAST_ERR" '^kache: warning:' "a broken cache dir should give a kache warning"
assert_app_baseline "$ws"
assert_eq "$(cat "$TEST_TMP/plain-file")" "not a directory" "kache changed the regular file given as its cache dir"

note "KACHE_CACHE_DIR is below a regular file"
export KACHE_CACHE_DIR=$TEST_TMP/plain-file/cache
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "real compiles with a cache dir below a file"
assert_file_contains "$LAST_ERR" '^kache: warning:' "a cache dir below a file should give a kache warning"
assert_app_baseline "$ws"

note "the store's subdirectories are files"
export KACHE_CACHE_DIR=$TEST_TMP/cache-broken
mkdir -p "$KACHE_CACHE_DIR"
for d in blobs manifests entries locks tmp events; do echo x > "$KACHE_CACHE_DIR/$d"; done
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "real compiles with a store whose subdirectories are files"
assert_file_contains "$LAST_ERR" '^kache: warning:' "a broken store layout should give a kache warning"
assert_app_baseline "$ws"

