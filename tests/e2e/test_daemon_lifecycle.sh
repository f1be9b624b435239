#!/usr/bin/env bash
# kached's lifecycle (DESIGN.md, "Wrapper and daemon"): `kache daemon start`
# returns once the socket answers; one daemon per socket; a stale socket left by
# kill -9 is replaced; `status --json` when running and when stopped; SIGTERM,
# `stop` and the idle timeout stop it cleanly; a socket path too long for a Unix
# socket is an error naming KACHE_SOCKET_PATH; a socket directory writable by
# others is refused; the daemon restarts itself when the kache binary beside it
# gets newer; `install` without a systemd user session says so; the daemon keeps
# none of its starter's file descriptors. No remote and no cargo build needed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

machine m
sock=$KACHE_CACHE_DIR/daemon.sock
log=$KACHE_CACHE_DIR/kached.log

note "status --json with no daemon: running false"
assert_eq "$(status_field running)" false "status --json before any start: running"
assert_eq "$(status_field pid)" 0 "status --json before any start: pid"
assert_eq "$(status_field pending_uploads)" 0 "status --json before any start: pending_uploads"
rc=0; "$KACHE" daemon status >/dev/null || rc=$?
assert_ne "$rc" 0 "kache daemon status (text) exit status with no daemon"

note "start returns once the socket answers"
exec 7>"$TEST_TMP/starter-fd7"          # a descriptor the daemon must not keep
"$KACHE" daemon start >"$TEST_TMP/start.out" 2>&1 || fail "kache daemon start failed: $(cat "$TEST_TMP/start.out")"
exec 7>&-
python3 "$IPC_PY" "$sock" <<<'ping()' || fail "no answer on $sock right after kache daemon start returned"
pid=$(status_field pid)
assert_eq "$(status_field running)" true "status --json: running"
assert_eq "$(status_field pending_uploads)" 0 "status --json: pending_uploads"
assert_file_contains "$TEST_TMP/start.out" "pid $pid" "kache daemon start names the daemon's pid"
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode is $(stat -c %a "$sock"), expected 600"

note "the daemon keeps no descriptor of the process that started it"
for fd in /proc/"$pid"/fd/*; do
  target=$(readlink "$fd" || true)
  [[ $target == "$TEST_TMP/starter-fd7" ]] && fail "kached kept its starter's descriptor ${fd##*/} ($target)"
done

note "start again: the running daemon answers, no second one"
"$KACHE" daemon start >/dev/null 2>&1 || fail "a second kache daemon start failed"
assert_eq "$(status_field pid)" "$pid" "pid after a second start"

note "a second 'kached run' on the same socket exits 0 at once"
rc=0; timeout 10 "$KACHED_BIN" run >"$TEST_TMP/run2.out" 2>&1 || rc=$?
assert_eq "$rc" 0 "exit status of a second kached run"
kill -0 "$pid" || fail "the first daemon died when a second one started"
assert_eq "$(status_field pid)" "$pid" "pid after a second kached run"

note "kill -9 leaves a stale socket; the next start replaces it"
kill -9 "$pid"
wait_until 10 pid_gone "$pid" || fail "kached $pid survived kill -9"
[[ -S $sock ]] || fail "expected a stale socket file at $sock after kill -9"
assert_eq "$(status_field running)" false "status --json with a stale socket: running"
"$KACHE" daemon start >/dev/null 2>&1 || fail "kache daemon start over a stale socket failed"
pid2=$(status_field pid)
assert_ne "$pid2" "$pid" "pid after replacing a stale socket"
python3 "$IPC_PY" "$sock" <<<'ping()' || fail "no answer after replacing the stale socket"

note "SIGTERM stops it cleanly: process gone, socket removed"
kill -TERM "$pid2"
wait_until 15 pid_gone "$pid2" || fail "kached $pid2 did not exit on SIGTERM"
[[ ! -e $sock ]] || fail "socket $sock still there after SIGTERM"
assert_file_contains "$log" 'received SIGTERM' "kached.log after SIGTERM"
assert_eq "$(status_field running)" false "status --json after SIGTERM: running"

note "kache daemon stop / restart"
daemon_start
"$KACHE" daemon restart >"$TEST_TMP/restart.out" 2>&1 || fail "kache daemon restart failed: $(cat "$TEST_TMP/restart.out")"
pid3=$(status_field pid)
assert_ne "$pid3" "$DAEMON_PID" "pid after kache daemon restart"
pid_gone "$DAEMON_PID" || fail "the old daemon $DAEMON_PID still runs after a restart"
"$KACHE" daemon stop >"$TEST_TMP/stop.out" 2>&1 || fail "kache daemon stop failed"
pid_gone "$pid3" || fail "kached $pid3 still runs after kache daemon stop returned"
[[ ! -e $sock ]] || fail "socket still there after kache daemon stop"
"$KACHE" daemon stop >"$TEST_TMP/stop2.out" 2>&1 || fail "kache daemon stop with no daemon should exit 0"
assert_file_contains "$TEST_TMP/stop2.out" 'not running' "kache daemon stop with no daemon"

note "KACHE_DAEMON_IDLE_TIMEOUT=2: it exits when idle"
KACHE_DAEMON_IDLE_TIMEOUT=2 daemon_start
t0=$(date +%s%N)
wait_until 15 pid_gone "$DAEMON_PID" || fail "kached with KACHE_DAEMON_IDLE_TIMEOUT=2 still runs after 15 s"
echo "   idle daemon exited after $(( ($(date +%s%N) - t0) / 1000000 )) ms"
[[ ! -e $sock ]] || fail "socket still there after the idle exit"
assert_file_contains "$log" 'idle timeout' "kached.log after the idle exit"

note "a socket path longer than 107 bytes is an error naming KACHE_SOCKET_PATH"
long_dir=$TEST_TMP/L
mkdir -p -m 700 "$long_dir"
n=$(( 108 - ${#long_dir} - 1 ))
(( n > 1 )) || fail "TMPDIR is too long for this test (TEST_TMP=$TEST_TMP)"
long_sock=$long_dir/$(printf 's%.0s' $(seq "$n"))
assert_eq "${#long_sock}" 108 "length of the long socket path"
rc=0; KACHE_SOCKET_PATH=$long_sock "$KACHE" daemon start >"$TEST_TMP/long.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "kache daemon start with a 108-byte socket path"
assert_file_contains "$TEST_TMP/long.out" 'KACHE_SOCKET_PATH' "the error for a long socket path"
rc=0; KACHE_SOCKET_PATH=$long_sock timeout 10 "$KACHED_BIN" run >"$TEST_TMP/long-run.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "kached run with a 108-byte socket path"
assert_file_contains "$TEST_TMP/long-run.out" 'KACHE_SOCKET_PATH' "kached run's error for a long socket path"
ok_sock=${long_sock%s}
assert_eq "${#ok_sock}" 107 "length of the longest usable socket path"
KACHE_SOCKET_PATH=$ok_sock daemon_start
python3 "$IPC_PY" "$ok_sock" <<<'ping()' || fail "no answer on a 107-byte socket path"
KACHE_SOCKET_PATH=$ok_sock "$KACHE" daemon stop >/dev/null || fail "stop on a 107-byte socket path"

note "a socket directory writable by others is refused"
mkdir -p "$TEST_TMP/shared-dir" && chmod 777 "$TEST_TMP/shared-dir"
rc=0; KACHE_SOCKET_PATH=$TEST_TMP/shared-dir/d.sock timeout 10 "$KACHED_BIN" run >"$TEST_TMP/perm.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "kached run with a world-writable socket directory"
[[ ! -S $TEST_TMP/shared-dir/d.sock ]] || fail "kached listened in a world-writable directory"
assert_file_contains "$TEST_TMP/perm.out" 'writable by other users' "kached run's error for a world-writable socket directory"

note "a newer kache binary on disk restarts the daemon (copies in a private bin dir)"
bin=$TEST_TMP/bin
mkdir -p "$bin"
cp "$KACHE" "$bin/kache"
cp "$KACHED_BIN" "$bin/kached"
"$bin/kache" daemon start >/dev/null 2>&1 || fail "kache daemon start from $bin failed"
pid4=$(KACHE=$bin/kache status_field pid)
[[ $(readlink "/proc/$pid4/exe") == "$bin/kached" ]] || fail "the daemon runs $(readlink "/proc/$pid4/exe"), expected $bin/kached"
serving_before=$(grep -c 'serving' "$log")
touch -d '+1 minute' "$bin/kache"
restarted() { grep -q 'changed on disk, restarting' "$log" && (( $(grep -c 'serving' "$log") > serving_before )); }
wait_until 15 restarted || fail "no restart within 15 s of touching $bin/kache: $(tail -5 "$log")"
python3 "$IPC_PY" "$sock" <<<'ping()' || fail "no answer after the restart"
assert_eq "$(KACHE=$bin/kache status_field pid)" "$pid4" "pid after the exec restart (the same process)"
sleep 2.5
assert_eq "$(grep -c 'changed on disk, restarting' "$log")" 1 "restarts after one touch (no restart loop)"
"$bin/kache" daemon stop >/dev/null || fail "stop after the restart"

note "kache daemon install without a systemd user session"
fake=$TEST_TMP/fake-systemctl
mkdir -p "$fake"
printf '#!/bin/sh\necho "Failed to connect to bus: No medium found" >&2\nexit 1\n' >"$fake/systemctl"
chmod +x "$fake/systemctl"
rc=0; HOME=$TEST_TMP/home PATH=$fake:$PATH "$KACHE" daemon install >"$TEST_TMP/install.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "kache daemon install without systemctl --user"
assert_file_contains "$TEST_TMP/install.out" 'systemctl --user' "install's message"
assert_file_contains "$TEST_TMP/install.out" 'kache daemon start' "install's message should name the alternative"
[[ ! -e $TEST_TMP/home/.config/systemd/user/kached.service ]] || fail "install wrote a unit file anyway"

echo "   lifecycle: all checks passed"
