#!/usr/bin/env bash
# `kache remote gc` on a shared directory (KACHE_REMOTE_DIR), with uses recorded by
# readers in memory and written as one access object per machine per day:
#   machine A builds the chain fixture, then again with leaf edited (new entries for leaf
#   and app), and pushes everything (a push writes no access object); the objects are
#   then aged ten days (as if pushed then);
#   machine B, its daemon running (prefetch off), builds debug: every crate is a remote
#   hit, and the remote gains NO object during the build (nothing is written on the hit
#   path); `kache daemon stop` flushes: exactly one access object appears, named by B's
#   machine id (kept in B's store, 0600), listing the packs B pulled; an old per-pack
#   marker directory in B's store is gone;
#   `remote gc --dry-run` changes nothing; `remote gc --max-age 5d` keeps exactly what B
#   used and drops the packs of the edited build (used by nobody, uploaded ten days ago), manifests
#   first (none is left naming a missing pack); a second gc removes nothing;
#   machine C's `kache sync --pull` writes its own access object once, at its end, and C
#   then builds correctly with no compile.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

R=$TEST_TMP/remote
mkdir -p "$R"
OUT=$TEST_TMP/cmd.out
ERR=$TEST_TMP/cmd.err

# kremote DIR ARGS...: `kache ARGS` in DIR against $R; sets RC.
kremote() {
  local dir=$1
  shift
  RC=0
  (cd "$dir" && KACHE_REMOTE_DIR=$R "$KACHE" "$@") >"$OUT" 2>"$ERR" || RC=$?
  echo "   \$ kache $* -> exit $RC: $(tail -n 1 "$OUT")"
  if [[ -s $ERR ]]; then sed 's/^/     stderr: /' "$ERR" | head -n 5; fi
}

remote_packs() { find "$R/v1/packs" -type f -name '*.pack' 2>/dev/null | wc -l; }
remote_listing() { (cd "$R" && find . -type f -print0 | sort -z | xargs -0r md5sum); }
access_objects() { find "$R/v1/access" -type f 2>/dev/null | sort; }
today=$(date -u +%F)

note "machine A: a build, a build with leaf edited, push everything"
machine a
ws=$(new_workspace ws)
kcargo "$ws" build
n_debug=$(count_entries)
echo '// edited on machine A only' >>"$ws/leaf/src/lib.rs"
kcargo "$ws" build
n=$(count_entries)
assert_ge "$n_debug" 8 "entries of the first build in store A"
assert_ge $(( n - n_debug )) 2 "entries of the edited build in store A"
kremote "$TEST_TMP" sync --push
assert_eq "$RC" 0 "kache sync --push exit code"
assert_eq "$(remote_packs)" "$n" "packs on the remote"
assert_eq "$(access_objects)" "" "access objects written by a push"
find "$R/v1" -type f -exec touch -d '10 days ago' {} +

note "machine B: remote-warm build through its daemon; the hit path writes nothing"
machine b
export KACHE_REMOTE_DIR=$R KACHE_PREFETCH=0
mkdir -p "$KACHE_CACHE_DIR/remote-access" && touch "$KACHE_CACHE_DIR/remote-access/0123" # an earlier version's marks
ws_b=$TEST_TMP/b/ws
cp -r "$FIXTURES/chain" "$ws_b"
rm -rf "$ws_b/target"
daemon_start
stamp=$TEST_TMP/before-b
touch "$stamp"
sleep 1 # mtimes of objects written from now on are newer than the stamp
kcargo "$ws_b" build
assert_no_real_compiles "B's build (everything from the remote)"
assert_app_baseline "$ws_b"
m=$(count_entries)
# A remote check pulls every entry of a K1, so B may pull an edited build's entry too.
assert_ge "$m" "$n_debug" "entries B pulled"
assert_le "$m" $(( n - 1 )) "entries B pulled"
written=$(find "$R" -newer "$stamp" \( -type f -o -type d \) -printf '%P\n' | sort)
assert_eq "$written" "" "objects written to the remote during B's build"
assert_eq "$(access_objects)" "" "access objects before B's daemon flushes"
[[ ! -e $KACHE_CACHE_DIR/remote-access ]] || fail "B's old per-pack marks (remote-access/) are still there"

note "kache daemon stop flushes B's uses: one access object, named by B's machine id"
"$KACHE" daemon stop >/dev/null
wait_until 10 pid_gone "$DAEMON_PID" || fail "B's daemon did not stop"
id_b=$(cat "$KACHE_CACHE_DIR/machine-id")
[[ $id_b =~ ^[0-9a-f]{32}$ ]] || fail "B's machine id is not 32 hex digits: $id_b"
assert_eq "$(stat -c %a "$KACHE_CACHE_DIR/machine-id")" 600 "mode of B's machine id file"
assert_eq "$(access_objects)" "$R/v1/access/$today/$id_b" "access objects after B's daemon stopped"
obj_b=$R/v1/access/$today/$id_b
assert_eq "$(wc -l <"$obj_b")" "$m" "packs listed in B's access object"
assert_eq "$(sort "$obj_b")" "$(cat "$obj_b")" "B's access object is sorted"
used=$(cat "$obj_b")
for k2 in $used; do
  [[ -n $(find "$R/v1/packs" -name "$k2.pack") ]] || fail "B's access object lists $k2, which is no pack"
done
unset KACHE_REMOTE_DIR KACHE_PREFETCH

note "--dry-run changes nothing"
before=$(remote_listing)
kremote "$TEST_TMP" remote gc --max-age 5d --dry-run
assert_eq "$RC" 0 "remote gc --dry-run exit code"
assert_file_contains "$OUT" "^would remove $(( n - m )) of $n packs" "dry-run summary"
assert_eq "$(remote_listing)" "$before" "remote after a dry run"

note "remote gc --max-age 5d keeps what B used and drops the rest, manifests first"
kremote "$TEST_TMP" remote gc --max-age 5d
assert_eq "$RC" 0 "remote gc exit code"
assert_eq "$(remote_packs)" "$m" "packs left"
for k2 in $used; do
  [[ -n $(find "$R/v1/packs" -name "$k2.pack") ]] || fail "a pack B used today was removed: $k2"
done
while IFS= read -r mf; do
  rel=${mf#"$R"/v1/manifests/}
  crate=${rel%%/*}
  [[ -f $R/v1/packs/$crate/$(basename "$mf").pack ]] || fail "manifest $rel names a missing pack"
done < <(find "$R/v1/manifests" -type f)
assert_eq "$(find "$R/v1/manifests" -type f | wc -l)" "$m" "manifest objects left"
assert_eq "$(access_objects)" "$obj_b" "access objects left"

note "a second gc under the same bound removes nothing"
kremote "$TEST_TMP" remote gc --max-age 5d
assert_file_contains "$OUT" "^removed 0 of $m packs" "second gc summary"

note "machine C: sync --pull writes its access object once, at its end; then a correct build"
machine c
ws_c=$TEST_TMP/c/ws
cp -r "$FIXTURES/chain" "$ws_c"
rm -rf "$ws_c/target"
kremote "$ws_c" sync --pull
assert_eq "$RC" 0 "kache sync --pull exit code"
assert_eq "$(count_entries)" "$m" "entries C pulled"
id_c=$(cat "$KACHE_CACHE_DIR/machine-id")
assert_ne "$id_c" "$id_b" "C's machine id"
assert_eq "$(wc -l <"$R/v1/access/$today/$id_c")" "$m" "packs listed in C's access object"
assert_eq "$(access_objects | wc -l)" 2 "access objects (B and C)"
kcargo "$ws_c" build
assert_no_real_compiles "C's build after gc"
assert_app_baseline "$ws_c"
