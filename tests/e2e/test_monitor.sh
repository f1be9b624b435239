#!/usr/bin/env bash
# kache monitor: a snapshot when stdout is not a terminal (its counts are the event
# log's, as `kache stats` has them); in a real terminal (a tmux pane) a live view that
# follows a build as it runs, quits on q and leaves the terminal as it found it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold build, then a snapshot"
kcargo "$ws" build
misses=$(stats_field misses)
assert_ge "$misses" 3 "misses after a cold build"
"$KACHE" monitor --since 1h >"$TEST_TMP/snap" 2>"$TEST_TMP/snap.err" || fail "monitor snapshot exited $?"
cat "$TEST_TMP/snap"
grep -qE "misses $misses( |$)" "$TEST_TMP/snap" || fail "the snapshot does not show misses $misses"
grep -q $'\033' "$TEST_TMP/snap" && fail "the snapshot to a file carries terminal escapes"
grep -q "^slowest" "$TEST_TMP/snap" || fail "no slowest units in the snapshot"
grep -q "^daemon    not running" "$TEST_TMP/snap" || fail "the snapshot does not say the daemon is not running"
rc=0; "$KACHE" monitor --since soon >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "a bad --since"

command -v tmux >/dev/null || skip "tmux is not installed (scripts/install-deps.sh installs it)"
sock="kache-monitor-$$"
tm() { tmux -L "$sock" "$@"; }
trap 'tmux -L "$sock" kill-server >/dev/null 2>&1 || true; _cleanup' EXIT
tm -f /dev/null new-session -d -s mon -x 150 -y 30 "env -i PATH=$PATH HOME=$TEST_TMP TERM=xterm bash --norc --noprofile" ||
  skip "tmux cannot start a session here"
pane() { tm capture-pane -p -t mon; }
# wait_pane REGEX WHAT: polls the pane for up to 20 s.
wait_pane() {
  for _ in $(seq 100); do pane | grep -qE "$1" && return 0; sleep 0.2; done
  pane
  fail "the pane never showed $2"
}
tm send-keys -t mon "PS1='ready> '; KACHE_CACHE_DIR=$KACHE_CACHE_DIR $KACHE monitor --since 1h; echo monitor-exit=\$?" Enter
wait_pane "misses $misses " "the cold build's misses"
pane | grep -q "q quits" || fail "the live view does not say how to quit"

note "a warm build while the monitor runs: its hits appear live"
rm -rf "$ws/target"
kcargo "$ws" build
hits=$(stats_field hits)
assert_ge "$hits" 3 "hits of the warm build"
wait_pane "hits +$hits \(local $hits" "the warm build's $hits hits"

note "q quits and the terminal is restored"
tm send-keys -t mon q
wait_pane "monitor-exit=0" "the monitor exiting with status 0 after q"
tm send-keys -t mon "stty -a | tr ' ' '\n' | grep -xE -- '-?(icanon|echo)' | tr '\n' ' '; echo" Enter
wait_pane "^icanon echo $|^echo icanon $" "canonical mode and echo back on"
pgrep -f "$KACHE monitor" >/dev/null && fail "the monitor process is still running"
echo "PASS: $TEST_NAME"
