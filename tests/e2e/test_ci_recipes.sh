#!/usr/bin/env bash
# The CI recipes of docs/ci.md, run as written (tests/e2e/ci_emulator.py runs their
# shell steps one shell per step, as GitHub Actions and GitLab CI do; what only the CI
# service can do — checkout, the OIDC exchange, installing kache — is emulated and said
# so) against the loopback S3 server, on the small fixture:
#   - per recipe, two fresh runners (empty stores, the second checkout at another path):
#     the first builds and pushes, the second pulls and its build compiles nothing;
#   - a pull-request / merge-request run (read-only remote) after an edit: it compiles
#     the edited crates and the bucket is left exactly as it was;
# then what `kache sync --push` sends: by default only the packages of the current
# Cargo.lock (an entry of another workspace's package stays local), `--workspace` only
# the members (not the registry crate), `--all` everything.
# Skipped (exit 77) without node/npm for the S3 server or without PyYAML.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
python3 -c 'import yaml' 2>/dev/null || skip "python3 has no yaml module (PyYAML) to read the recipes"
require_s3_server
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

DOC=$KACHE_SOURCE_ROOT/docs/ci.md
EMU=$E2E_DIR/ci_emulator.py
BIN=$TEST_TMP/bin
mkdir -p "$BIN"
ln -s "$KACHE" "$BIN/kache"

# The shell steps must be marked for extraction, and the doc must carry both recipes.
for r in github gitlab; do
  grep -q "^\`\`\`yaml ci-recipe=$r\$" "$DOC" || fail "docs/ci.md has no \`\`\`yaml ci-recipe=$r block"
done

# synced FILE WORD: the count before WORD ("pushed", "pulled", ...) in the sync summary in FILE.
synced() { grep -oE "[0-9]+ $2" "$1" | head -n 1 | cut -d' ' -f1; }

bucket_listing() { (cd "$S3_BUCKET_DIR" && find . -type f -printf '%P %s\n' | sort); }

# ci RECIPE EVENT RUNNER WORKDIR: runs one recipe as one runner; logs in $TEST_TMP/logs/RUNNER.
ci() {
  local recipe=$1 event=$2 runner=$3 dir=$4 rc=0
  machine "$runner"
  LOGS=$TEST_TMP/logs/$runner
  : > "$COMPILE_LOG"
  python3 "$EMU" "$DOC" "$recipe" "$event" "$dir" "$LOGS" "$BIN" || rc=$?
  [[ $rc -ne 77 ]] || skip "the emulator cannot run here"
  [[ $rc -eq 0 ]] || fail "the $recipe recipe ($event) failed on runner $runner"
  echo "   runner $runner: $(count_real_compiles) real compiles ($(compiled_units | tr '\n' ' '))"
  # The wrapper started a daemon for this store; the push step stopped it.
  [[ -z $(test_daemon_pids | while read -r p; do tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q "^KACHE_CACHE_DIR=$KACHE_CACHE_DIR\$" && echo "$p"; done) ]] ||
    fail "a daemon of runner $runner still runs after the push step"
}

note "starting the S3 server"
start_s3
no_remote

# recipe_pair RECIPE PREFIX: two runners of RECIPE on an empty remote prefix.
recipe_pair() {
  local recipe=$1
  export CI_TEST_S3_PREFIX=$2
  note "$recipe: runner 1 (empty store, empty remote): builds and pushes"
  local w1=$TEST_TMP/$recipe-1/work/checkout
  mkdir -p "$(dirname "$w1")"
  cp -r "$FIXTURES/chain" "$w1"
  ci "$recipe" push "$recipe-1" "$w1"
  local n1 out
  n1=$(count_entries)
  assert_ge "$n1" 5 "entries on runner 1"
  assert_ge "$(count_real_compiles)" 5 "real compiles on runner 1"
  if [[ $recipe == github ]]; then out=$LOGS/push.out; else out=$LOGS/after.out; fi
  # The daemon the wrapper started may have uploaded some already; the sync sends the rest.
  assert_eq "$(( $(synced "$out" pushed) + $(synced "$out" 'up to date') ))" "$n1" \
    "entries pushed or already up to date after runner 1's push step"
  assert_eq "$(synced "$out" failed)" 0 "failed transfers on runner 1"
  assert_eq "$(find "$S3_BUCKET_DIR/$2/v1/packs" -name '*.pack._S3rver_object' | wc -l)" "$n1" \
    "packs in the bucket after runner 1"

  note "$recipe: runner 2 (empty store, another path): pulls, compiles nothing"
  local w2=$TEST_TMP/$recipe-2/elsewhere/deeper/src
  mkdir -p "$(dirname "$w2")"
  cp -r "$FIXTURES/chain" "$w2"
  ci "$recipe" push "$recipe-2" "$w2"
  if [[ $recipe == github ]]; then out=$LOGS/pull.out; else out=$LOGS/main.out; fi
  assert_eq "$(synced "$out" pulled)" "$n1" "entries pulled by runner 2"
  assert_no_real_compiles "the build on runner 2, after the pull"
  [[ -x $w2/target/debug/fixture-app ]] || fail "runner 2 built no fixture-app"
  if [[ $recipe == github ]]; then out=$LOGS/push.out; else out=$LOGS/after.out; fi
  assert_eq "$(synced "$out" pushed)" 0 "entries pushed by runner 2 (all were there)"

  note "$recipe: a pull/merge request after an edit: read-only, the bucket is untouched"
  local w3=$TEST_TMP/$recipe-pr/checkout
  mkdir -p "$(dirname "$w3")"
  cp -r "$FIXTURES/chain" "$w3"
  replace_in "$w3/app/src/main.rs" "fn main() {" "fn main() { let _pr_edit = 1;"
  bucket_listing > "$TEST_TMP/bucket.before"
  ci "$recipe" pr "$recipe-pr" "$w3"
  assert_ge "$(count_real_compiles)" 1 "real compiles of the edited crate in the PR build"
  if [[ $recipe == github ]]; then out=$LOGS/push.out; else out=$LOGS/after.out; fi
  assert_file_contains "$out" "read-only remote" "the push step says the remote is read-only"
  bucket_listing > "$TEST_TMP/bucket.after"
  assert_same_file "$TEST_TMP/bucket.before" "$TEST_TMP/bucket.after" "the bucket after a read-only PR build"
  unset CI_TEST_S3_PREFIX
}

recipe_pair github gh
recipe_pair gitlab gl

note "kache sync --push sends the packages of the current Cargo.lock only"
# Runner 1 of the GitHub recipe has the fixture's entries; add another workspace's.
machine github-1
wl=$TEST_TMP/github-1/work/checkout
foreign=$TEST_TMP/foreign
mkdir -p "$foreign/src"
printf '[package]\nname = "foreign-pkg"\nversion = "0.1.0"\nedition = "2021"\n\n[workspace]\n' > "$foreign/Cargo.toml"
echo 'pub fn f() -> u32 { 7 }' > "$foreign/src/lib.rs"
kcargo "$foreign" build
assert_file_contains "$foreign/Cargo.lock" 'name = "foreign-pkg"' "the foreign workspace's lockfile"
# packs_under PREFIX: the package directories of the packs pushed under PREFIX.
packs_under() {
  if [[ -d $S3_BUCKET_DIR/$1/v1/packs ]]; then
    (cd "$S3_BUCKET_DIR/$1/v1/packs" && find . -mindepth 1 -maxdepth 1 -type d -printf '%P\n' | sort | tr '\n' ' ')
  fi
}
push_with() { # PREFIX ARGS...
  local prefix=$1 rc=0
  shift
  (cd "$wl" && KACHE_S3_BUCKET=$S3_BUCKET KACHE_S3_ENDPOINT=$S3_ENDPOINT KACHE_S3_PREFIX=$prefix \
    "$KACHE" sync --push "$@") >"$TEST_TMP/push.out" 2>&1 || rc=$?
  echo "   \$ kache sync --push $* -> exit $rc: $(tail -n 2 "$TEST_TMP/push.out" | tr '\n' ' ')"
  [[ $rc -eq 0 ]] || fail "kache sync --push $* failed"
  echo "     packages pushed: $(packs_under "$prefix")"
}
push_with lock
assert_eq "$(packs_under lock)" "app itoa leaf mid native pmacro " "packages pushed by default (the Cargo.lock's)"
push_with all --all
assert_eq "$(packs_under all)" "app foreign-pkg itoa leaf mid native pmacro " "packages pushed with --all"
push_with ws --workspace
assert_eq "$(packs_under ws)" "app leaf mid native pmacro " "packages pushed with --workspace (members, not itoa)"
rc=0
(cd "$wl" && KACHE_S3_BUCKET=$S3_BUCKET KACHE_S3_ENDPOINT=$S3_ENDPOINT "$KACHE" sync --push --all --workspace) \
  >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "exit code of --all with --workspace (a usage error)"
