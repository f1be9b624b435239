#!/usr/bin/env bash
# The same workspace at another path shares the store: zero real compiler runs,
# the same program, cargo's fingerprints point at the new checkout, and the
# restored artifacts carry no path of the first checkout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws1=$(new_workspace first/checkout)
ws2=$(new_workspace elsewhere/deeper/other-checkout)

note "cold build in $ws1"
kcargo "$ws1" build
assert_ge "$(count_real_compiles)" 8 "cold build: real compiles"
app_output "$ws1" > "$TEST_TMP/ws1.out"
assert_app_baseline "$ws1"

note "build of the copy in $ws2"
kcargo "$ws2" build
assert_no_real_compiles "build of the same workspace at another path"
app_output "$ws2" > "$TEST_TMP/ws2.out"
assert_same_file "$TEST_TMP/ws1.out" "$TEST_TMP/ws2.out" "the program built at the second path prints something else"

note "the restored program does not mention the first checkout's path"
if grep -aqF "$ws1" "$ws2/target/debug/fixture-app"; then
  fail "$ws2/target/debug/fixture-app contains the path $ws1 (artifacts must carry no machine-local paths)"
fi

note "remove the first checkout; the second one must not depend on it"
rm -rf "$ws1"
kcargo "$ws2" build
assert_no_real_compiles "no-op build at the second path"
assert_file_not_contains "$LAST_ERR" 'Compiling ' "cargo rebuilt at the second path once the first was gone (restored dep-info names the first checkout)"
assert_same_file "$TEST_TMP/ws1.out" <(app_output "$ws2") "program at the second path"

note "edits at the second path are seen"
replace_in "$ws2/leaf/data/greeting.txt" "hello from data" "hello from DATA"
kcargo "$ws2" build
assert_compiled 'leaf:leaf' "leaf after editing its include_str! file at the second path"
assert_app "$ws2" debug "greeting=hello from DATA"

note "a target directory outside the workspace (CARGO_TARGET_DIR), at two paths"
for t in "$TEST_TMP/targets/one" "$TEST_TMP/other-targets/two"; do
  CARGO_TARGET_DIR=$t kcargo "$ws2" build
  assert_no_real_compiles "build with CARGO_TARGET_DIR=$t"
  out=$("$t/debug/fixture-app") || fail "$t/debug/fixture-app failed"
  grep -qxF "greeting=hello from DATA" <<<"$out" || fail "program built into CARGO_TARGET_DIR=$t prints: $(tr '\n' ' ' <<<"$out")"
done

note "a path written into an artifact (env!(\"CARGO_MANIFEST_DIR\")) is never served to another checkout"
ws3=$(new_workspace embed/one)
ws4=$(new_workspace embed/two)
for w in "$ws3" "$ws4"; do
  replace_in "$w/app/src/main.rs" 'fn main() {' 'fn main() {
    println!("manifest_dir={}", env!("CARGO_MANIFEST_DIR"));'
done
kcargo "$ws3" build
grep -qxF "manifest_dir=$ws3/app" <(app_output "$ws3") || fail "the program at $ws3 does not print its own manifest dir"
kcargo "$ws4" build
# The app must be compiled again (its artifact would carry ws3's path); every
# other unit is the same as before and hits.
assert_compiled_set 'app:fixture_app' "the second checkout with a path embedded in the app"
grep -qxF "manifest_dir=$ws4/app" <(app_output "$ws4") ||
  fail "the program at $ws4 prints $(app_output "$ws4" | grep manifest_dir) (a foreign artifact was served)"
