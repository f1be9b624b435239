#!/usr/bin/env bash
# A build interrupted at a random point (Ctrl-C, or SIGKILL to the whole process
# group) leaves the store usable: the next build succeeds promptly (no stale
# lock left to wait for), the program is correct, and a warm build is served.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

i=0
for spec in INT:0.3 INT:0.7 KILL:0.5 KILL:1.0; do
  i=$((i + 1))
  sig=${spec%%:*} delay=${spec#*:}
  export KACHE_CACHE_DIR=$TEST_TMP/cache-$i
  pcargo "$ws" clean
  note "round $i: SIG$sig to the build's process group after ${delay}s"
  # job control on: the build gets its own process group (pgid = its pid) and
  # does not ignore SIGINT as background jobs otherwise do
  set -m
  (cd "$ws" && RUSTC_WRAPPER=$KACHE exec cargo build) >"$TEST_TMP/int.out" 2>"$TEST_TMP/int.err" &
  pid=$!
  set +m
  sleep "$delay"
  kill -"$sig" -- -"$pid" 2>/dev/null || true
  rc=0; wait "$pid" 2>/dev/null || rc=$?
  echo "   interrupted build: exit $rc; $(grep -c Compiling "$TEST_TMP/int.err" || true) units started"
  (( rc != 0 )) || echo "   (it finished before the signal)"
  # anything left of that group (a rustc that ignored SIGINT) is given a moment
  for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 -- -"$pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- -"$pid" 2>/dev/null || true

  t0=$(date +%s)
  kcargo "$ws" build
  took=$(( $(date +%s) - t0 ))
  assert_le "$took" 60 "round $i: seconds for the build after the interrupted one (a stale lock?)"
  assert_app_baseline "$ws"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "round $i: warm build after the interrupted and the complete build"
  assert_app_baseline "$ws"
done
