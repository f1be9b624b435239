#!/usr/bin/env bash
# The compiler's diagnostics are replayed on a hit: a workspace member with a
# warning shows the same warning on a warm build, also from another checkout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
ws2=$(new_workspace ws2)

# warning_block FILE: the dead-code warning and its source excerpt, as cargo printed it.
warning_block() {
  awk '/^warning: function `never_called` is never used/{p=1} p&&/^$/{exit} p' "$1"
}

kcargo "$ws" build
warning_block "$LAST_ERR" > "$TEST_TMP/cold.warning"
[[ -s $TEST_TMP/cold.warning ]] || fail "cold build: no dead-code warning for mid"
assert_file_contains "$TEST_TMP/cold.warning" 'mid/src/lib.rs' "cold warning names the file"
assert_file_contains "$LAST_ERR" '`mid` \(lib\) generated 1 warning' "cold build warning summary"
cat "$TEST_TMP/cold.warning"

note "warm build after clean: same warning"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build"
warning_block "$LAST_ERR" > "$TEST_TMP/warm.warning"
assert_same_file "$TEST_TMP/cold.warning" "$TEST_TMP/warm.warning" "the warning replayed on a hit differs from the compiler's"
assert_file_contains "$LAST_ERR" '`mid` \(lib\) generated 1 warning' "warm build warning summary (cargo counts the replayed diagnostic)"
n=$(grep -c 'function `never_called` is never used' "$LAST_ERR")
assert_eq "$n" 1 "times the warning is shown on a warm build"

note "from another checkout: same warning"
kcargo "$ws2" build
assert_no_real_compiles "build at another path"
warning_block "$LAST_ERR" > "$TEST_TMP/other.warning"
assert_same_file "$TEST_TMP/cold.warning" "$TEST_TMP/other.warning" "the warning replayed at another path differs"
if grep -qF "$ws" "$LAST_ERR" && ! grep -qF "$ws2" "$LAST_ERR"; then
  fail "the replayed diagnostics at $ws2 name the first checkout $ws"
fi

note "cargo's message format JSON: replayed diagnostics are JSON too"
pcargo "$ws2" clean
kcargo "$ws2" build --message-format=json
assert_no_real_compiles "warm build with --message-format=json"
python3 - "$LAST_OUT" <<'PY' || fail "no compiler-message for the dead-code warning in cargo's JSON output"
import json, sys
found = False
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-message" and "never_called" in m["message"]["message"]:
        found = True
sys.exit(0 if found else 1)
PY

note "the unused-variable lint in the binary, a second member with a warning"
replace_in "$ws/app/src/main.rs" 'fn main() {' $'fn main() {\n    let unused_thing = 5;'
kcargo "$ws" build
assert_compiled 'app:fixture_app' "after adding an unused variable"
assert_file_contains "$LAST_ERR" 'unused variable: `unused_thing`' "cold warning in the binary"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build with two warnings"
assert_file_contains "$LAST_ERR" 'unused variable: `unused_thing`' "the binary's warning on a hit"
assert_file_contains "$LAST_ERR" 'function `never_called` is never used' "mid's warning on a hit"
