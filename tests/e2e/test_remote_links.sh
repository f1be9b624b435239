#!/usr/bin/env bash
# Symbolic links that a writer of a shared-directory remote plants below its root are
# never followed, by any command (real cargo, real kache and kached, real files):
#  - R's crate folders linked to another remote O (any folder the reader may write):
#    `kache remote gc --max-age 5d` on R removes nothing of O, though O's packs are
#    old and unused; a daemon's uploads to R write nothing into O, and the build is right;
#  - links in a circle (`loop1 -> .`, `loop2 -> ..`) in R's folders: `kache sync --pull`
#    and `kache remote gc` end in bounded time.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

command -v timeout >/dev/null || fail "the timeout command is needed (coreutils)"

R=$TEST_TMP/remote
O=$TEST_TMP/other-remote
mkdir -p "$R/v1/packs" "$R/v1/manifests" "$O"
OUT=$TEST_TMP/cmd.out
ERR=$TEST_TMP/cmd.err
k_limit=60 # seconds; each command here takes about one on the fixture

# kremote REMOTE ARGS...: `kache ARGS` against the shared directory REMOTE, under a time
# limit (a hang fails the test); sets RC.
kremote() {
  local remote=$1
  shift
  RC=0
  (cd "$TEST_TMP" && KACHE_REMOTE_DIR=$remote timeout -s KILL "$k_limit" "$KACHE" "$@") >"$OUT" 2>"$ERR" || RC=$?
  echo "   \$ kache $* -> exit $RC: $(tail -n 1 "$OUT")"
  if [[ -s $ERR ]]; then sed 's/^/     stderr: /' "$ERR" | head -n 5; fi
  (( RC != 137 )) || fail "kache $* did not finish within $k_limit s (hung)"
}
listing() { (cd "$1" && find . -print0 | sort -z | xargs -0r stat -c '%n %s %Y' 2>/dev/null); }

note "machine A: the fixture built and pushed to O; O's objects aged ten days"
machine a
ws=$(new_workspace ws)
kcargo "$ws" build
n=$(count_entries)
assert_ge "$n" 8 "entries in store A"
kremote "$O" sync --push
assert_eq "$RC" 0 "kache sync --push to O exit code"
assert_eq "$(find "$O/v1/packs" -type f -name '*.pack' | wc -l)" "$n" "packs in O"
find "$O/v1" -type f -exec touch -d '10 days ago' {} +

note "a writer of R links R's crate folders to O's"
for d in "$O"/v1/packs/*/ "$O"/v1/manifests/*/; do
  sub=${d#"$O"/}
  ln -s "$d" "$R/${sub%/}"
done
before=$(listing "$O")

note "kache remote gc on R removes nothing of O"
kremote "$R" remote gc --max-age 5d
assert_eq "$RC" 0 "kache remote gc on R exit code"
assert_eq "$(listing "$O")" "$before" "O after a GC of R"

note "links in a circle in R: sync --pull and remote gc end"
for dir in "$R/v1" "$R/v1/packs" "$R/v1/manifests"; do
  ln -s . "$dir/loop1"
  ln -s .. "$dir/loop2"
done
machine b
ws_b=$TEST_TMP/b/ws
cp -r "$FIXTURES/chain" "$ws_b"
rm -rf "$ws_b/target"
kremote "$R" sync --pull --all
assert_eq "$(count_entries)" 0 "entries B pulled through links"
kremote "$R" remote gc --max-age 5d
assert_eq "$RC" 0 "kache remote gc exit code with links in a circle"
assert_eq "$(listing "$O")" "$before" "O after a GC of R with links in a circle"

note "B builds with its daemon uploading to R: nothing lands in O, the program is right"
export KACHE_REMOTE_DIR=$R KACHE_PREFETCH=0
daemon_start
kcargo "$ws_b" build
assert_app_baseline "$ws_b"
timeout -s KILL "$k_limit" "$KACHE" daemon stop >/dev/null || fail "B's daemon did not stop within $k_limit s"
wait_until 10 pid_gone "$DAEMON_PID" || fail "B's daemon did not stop"
unset KACHE_REMOTE_DIR KACHE_PREFETCH
assert_eq "$(listing "$O")" "$before" "O after B's daemon uploaded to R"
# The crates whose folders are real got their packs; the linked ones none.
real_packs=$(find "$R/v1/packs" -type f -name '*.pack' | wc -l)
echo "   packs uploaded to R's real folders: $real_packs"
kremote "$R" sync --push
echo "   push of the rest to R: exit $RC"
grep -h 'symbolic link' "$OUT" "$ERR" | head -n 2 | sed 's/^/     /'
grep -qh 'symbolic link' "$OUT" "$ERR" || fail "a push through a linked folder does not say it is a link"
assert_eq "$(listing "$O")" "$before" "O after B pushed to R"
