#!/usr/bin/env bash
# The size cap without a daemon: a local-only store with the smallest max_size (1M)
# and a build that overflows it; the miss that pushes it over starts a detached trim,
# after which the store is under the cap, and the build was correct all along.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export KACHE_MAX_SIZE=1M # the smallest max_size the configuration accepts
cap=$((1 << 20))

# blob_bytes: what the store's blobs hold (read from disk, not from kache).
blob_bytes() {
  find "$KACHE_CACHE_DIR/blobs" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}'
}

ws=$(new_workspace ws why)

note "a build whose outputs (test executables) are far over the cap"
kcargo "$ws" test --no-run
assert_compiled "whylib:whylib" "the first build compiles"
[[ ! -e ${KACHE_CACHE_DIR}/daemon.sock ]] || fail "a daemon socket exists: this test is about a store without one"

note "the detached trim brings the store under the cap (polling up to 30 s)"
size=$(blob_bytes)
for _ in $(seq 1 60); do
  size=$(blob_bytes)
  (( size <= cap )) && break
  sleep 0.5
done
echo "   store blobs: $size bytes (cap $cap)"
assert_le "$size" "$cap" "the store should be trimmed under max_size after the build"
counter=$(cat "$KACHE_CACHE_DIR/size-counter")
assert_le "$counter" "$cap" "the size counter should be re-synced by the trim"

note "the build was correct: the tests run and pass, and a rebuild is correct too"
kcargo "$ws" test
assert_file_contains "$LAST_OUT" 'test result: ok' "cargo test should run the tests"
kcargo "$ws" build
echo "ok"
