#!/usr/bin/env bash
# `kache remote gc` on a shared directory (KACHE_REMOTE_DIR): store A builds the chain
# fixture and pushes everything; the push's access markers are aged ten days (as if it
# were pushed then); store B pulls only `leaf` and `pmacro`, which marks them used today.
# `remote gc --max-size` sized to what was used must keep exactly those and drop the
# rest, manifests first (none is left naming a missing pack); --dry-run changes nothing;
# an empty store C builds the fixture correctly afterwards, hitting what remains.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

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
today=$(( $(date +%s) / 86400 ))

note "store A: cold build, push everything"
ws=$(new_workspace ws)
kcargo "$ws" build
n=$(count_entries)
assert_ge "$n" 8 "entries in store A"
kremote "$TEST_TMP" sync --push
assert_eq "$RC" 0 "kache sync --push exit code"
assert_eq "$(remote_packs)" "$n" "packs on the remote"
markers=$(find "$R/v1/access" -type f | wc -l)
assert_eq "$markers" "$n" "access markers written by the push (one per pack)"

note "age every marker ten days, as if the push happened then"
for m in $(find "$R/v1/access" -type f -name "$today"); do
  mv "$m" "$(dirname "$m")/$(( today - 10 ))"
done

note "store B pulls only leaf and pmacro (a Cargo.lock naming just those)"
export KACHE_CACHE_DIR=$TEST_TMP/machine-b/cache
sub=$TEST_TMP/machine-b/subset
mkdir -p "$sub"
printf 'version = 3\n\n[[package]]\nname = "leaf"\nversion = "0.1.0"\n\n[[package]]\nname = "pmacro"\nversion = "0.1.0"\n' >"$sub/Cargo.lock"
kremote "$sub" sync --pull
assert_eq "$RC" 0 "kache sync --pull exit code"
m=$(count_entries)
assert_ge "$m" 2 "entries pulled by store B"
assert_le "$m" $(( n - 2 )) "entries pulled by store B"
used=$(find "$R/v1/access" -type f -name "$today" | awk -F/ '{print $(NF-1)}' | sort -u)
assert_eq "$(wc -w <<<"$used")" "$m" "packs marked used today"
kremote "$sub" sync --pull
assert_eq "$(find "$R/v1/access" -type f -name "$today" | wc -l)" "$m" "markers after a second pull the same day"

# The bytes of the used packs and their manifests: exactly what --max-size keeps.
keep=0
for k2 in $used; do
  for f in $(find "$R/v1/packs" -name "$k2.pack") $(find "$R/v1/manifests" -type f -name "$k2"); do
    keep=$(( keep + $(stat -c %s "$f") ))
  done
done

note "--dry-run changes nothing"
before=$(remote_listing)
kremote "$TEST_TMP" remote gc --max-size "$keep" --dry-run
assert_eq "$RC" 0 "remote gc --dry-run exit code"
assert_file_contains "$OUT" "^would remove $(( n - m )) of $n packs" "dry-run summary"
assert_eq "$(remote_listing)" "$before" "remote after a dry run"

note "remote gc --max-size keeps the used packs and drops the rest"
kremote "$TEST_TMP" remote gc --max-size "$keep"
assert_eq "$RC" 0 "remote gc exit code"
assert_eq "$(remote_packs)" "$m" "packs left"
for k2 in $used; do
  [[ -n $(find "$R/v1/packs" -name "$k2.pack") ]] || fail "a pack used today was removed: $k2"
done
while IFS= read -r mf; do
  rel=${mf#"$R"/v1/manifests/}
  crate=${rel%%/*}
  [[ -f $R/v1/packs/$crate/$(basename "$mf").pack ]] || fail "manifest $rel names a missing pack"
done < <(find "$R/v1/manifests" -type f)
assert_eq "$(find "$R/v1/manifests" -type f | wc -l)" "$m" "manifest objects left"
assert_eq "$(find "$R/v1/access" -type f | wc -l)" "$m" "access markers left"

note "a second gc under the same bound removes nothing"
kremote "$TEST_TMP" remote gc --max-size "$keep"
assert_file_contains "$OUT" "^removed 0 of $m packs" "second gc summary"

note "empty store C: pull what remains, build correctly, compile only the rest"
export KACHE_CACHE_DIR=$TEST_TMP/machine-c/cache
ws3=$TEST_TMP/machine-c/ws
mkdir -p "$(dirname "$ws3")"
cp -r "$FIXTURES/chain" "$ws3"
rm -rf "$ws3/target"
kremote "$ws3" sync --pull
assert_eq "$RC" 0 "kache sync --pull after gc exit code"
assert_eq "$(count_entries)" "$m" "entries pulled after gc"
kcargo "$ws3" build
assert_not_compiled 'leaf:.*|pmacro:.*' "leaf and pmacro (kept on the remote)"
assert_compiled 'app:.*' "app (its pack was removed)"
assert_app_baseline "$ws3"
