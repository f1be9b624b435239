#!/usr/bin/env bash
# Editing a member after its outputs came from a remote. Outputs restored from
# the store are hardlinked into the first tree; blobs imported from a remote pack
# were stored read-only, so the link gave the target a read-only .rmeta/.rlib and
# the next compile of that unit failed ("output file ... is not writeable").
# Checked for both ways a pack is imported: `kache sync --pull` and the daemon
# (remote check and prefetch), with a shared-directory remote; and a tree that
# already holds read-only outputs (left by an older kache) still compiles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

R=$TEST_TMP/remote
mkdir -p -m 700 "$R"
export KACHE_REMOTE_DIR=$R

# read_only_outputs WS: the number of files under WS/target/debug/deps that the owner cannot write.
read_only_outputs() { find "$1/target/debug/deps" -type f ! -perm -u+w | wc -l; }

note "machine A builds and pushes everything"
machine a
ws_a=$(new_workspace a-ws)
kcargo "$ws_a" build
assert_app_baseline "$ws_a"
(cd "$ws_a" && "$KACHE" sync --push --all) >"$TEST_TMP/push.out" 2>&1 || fail "kache sync --push: $(cat "$TEST_TMP/push.out")"

note "machine B: kache sync --pull, a build that compiles nothing, then an edit of a member"
machine b
ws_b=$TEST_TMP/elsewhere-b/checkout
copy_source "$ws_a" "$ws_b"
(cd "$ws_b" && "$KACHE" sync --pull) >"$TEST_TMP/pull.out" 2>&1 || fail "kache sync --pull: $(cat "$TEST_TMP/pull.out")"
kcargo "$ws_b" build
assert_no_real_compiles "machine B after sync --pull"
replace_in "$ws_b/leaf/src/util.rs" module-one module-two
kcargo "$ws_b" build
assert_compiled 'leaf:leaf' "machine B after editing leaf"
assert_app "$ws_b" debug module=module-two
assert_eq "$(read_only_outputs "$ws_b")" 0 "read-only outputs in B's target"


note "machine C: the daemon imports from the remote during the build, then an edit"
machine c
daemon_start
ws_c=$TEST_TMP/elsewhere-c/checkout
copy_source "$ws_a" "$ws_c"
kcargo "$ws_c" build
assert_no_real_compiles "machine C through the daemon"
assert_eq "$(read_only_outputs "$ws_c")" 0 "read-only outputs in C's target after restoring imported entries"
replace_in "$ws_c/mid/src/lib.rs" 'pub fn shouted()' '/// edited
pub fn shouted()'
kcargo "$ws_c" build
assert_compiled 'mid:mid' "machine C after editing mid"
assert_app_baseline "$ws_c"
"$KACHE" daemon stop >/dev/null

note "a read-only output linked into the tree (as an older kache left them): the next compile still works"
chmod a-w "$ws_c"/target/debug/deps/libleaf-*.rlib "$ws_c"/target/debug/deps/libleaf-*.rmeta
[[ $(read_only_outputs "$ws_c") -ge 2 ]] || fail "the test could not make leaf's outputs read-only"
replace_in "$ws_c/leaf/src/util.rs" module-one module-three
kcargo "$ws_c" build
assert_compiled 'leaf:leaf' "machine C after editing leaf over read-only outputs"
assert_app "$ws_c" debug module=module-three

echo "PASS"
