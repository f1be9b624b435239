#!/usr/bin/env bash
# Remote-warm start-up: in an empty store with a remote configured, the session's
# first wrapper (cargo's own `rustc -vV`) makes the toolchain record in a detached
# process, so the first compiles do not each probe the toolchain before their look-up.
#   - with a toolchain whose `--print sysroot` is made to take 3 s, the -vV
#     passthrough still returns at once (the detached process holds none of its
#     pipes), and the probe runs once, in the background;
#   - with the real toolchain and another empty store, the record is there before
#     any compile, the build reads it without making it again, and the program is right.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

mkdir -p -m 700 "$TEST_TMP/remote" "$KACHE_CACHE_DIR" # the cache dir as a started daemon leaves it
export KACHE_REMOTE_DIR=$TEST_TMP/remote KACHE_SOCKET_PATH=$TEST_TMP/kached.sock

# A rustc in front of lib.sh's shim: logs the toolchain probe's `--print sysroot`
# and makes it slow, so a process holding the wrapper's stdout would be seen waiting.
PROBE_LOG=$TEST_TMP/sysroot-probes.log
: > "$PROBE_LOG"
mkdir -p "$TEST_TMP/slow"
{
  echo '#!/usr/bin/env bash'
  echo 'if [[ $# -eq 2 && $1 == --print && $2 == sysroot ]]; then'
  echo "  echo probe >> '$PROBE_LOG'"
  echo '  sleep 3'
  echo 'fi'
  echo "exec '$RUSTC' \"\$@\""
} >"$TEST_TMP/slow/rustc"
chmod +x "$TEST_TMP/slow/rustc"
export RUSTC=$TEST_TMP/slow/rustc

ms() { date +%s%3N; }

ms() { date +%s%3N; }
# first_wrapper: cargo's first call, `rustc -vV` through kache; sets took (ms).
first_wrapper() {
  local t0 version
  t0=$(ms)
  version=$("$KACHE" "$RUSTC" -vV)
  took=$(($(ms) - t0))
  [[ $version == *"release:"* ]] || fail "rustc -vV through kache printed: $version"
}
# wait_record: until the store has a toolchain record (at most 20 s); fails without one.
wait_record() {
  local deadline=$((SECONDS + 20))
  while [[ -z $(ls -A "$KACHE_CACHE_DIR/toolchains" 2>/dev/null) && $SECONDS -lt $deadline ]]; do sleep 0.1; done
  [[ -n $(ls -A "$KACHE_CACHE_DIR/toolchains" 2>/dev/null) ]] || fail "no toolchain record after the first wrapper"
}

note "a slow toolchain probe: the first wrapper does not wait for it, nor does cargo"
first_wrapper
echo "   -vV took $took ms"
assert_le "$took" 2500 "ms for the -vV passthrough (the background probe sleeps 3 s)"
wait_record
assert_eq "$(wc -l <"$PROBE_LOG")" 1 "toolchain probes (the background one)"

note "the real toolchain, a new empty store: the record is made before any compile and used by the build"
export RUSTC=$REAL_RUSTC KACHE_CACHE_DIR=$TEST_TMP/cache2
mkdir -p -m 700 "$KACHE_CACHE_DIR"
first_wrapper
wait_record
record=$(ls "$KACHE_CACHE_DIR"/toolchains/* | head -n 1)
before=$(stat -c %Y.%s "$record")
ws=$(new_workspace ws)
kcargo "$ws" build
assert_eq "$(stat -c %Y.%s "$record")" "$before" "the record after the build (read, not made again)"
assert_app_baseline "$ws"
echo "PASS: $TEST_NAME"
