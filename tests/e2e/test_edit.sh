#!/usr/bin/env bash
# Edits: changing one crate recompiles it and its dependents only, and the
# program shows the change; reverting is served from the store, and so is
# re-applying the edit (the store keeps both versions).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
kcargo "$ws" build
assert_app_baseline "$ws"

note "edit the leaf crate (same file size)"
replace_in "$ws/leaf/src/lib.rs" $'{\n    1\n}' $'{\n    2\n}'
kcargo "$ws" build
assert_compiled_set "leaf:leaf mid:mid app:fixture_app" "after editing leaf/src/lib.rs"
assert_app "$ws" debug leaf_version=2

note "revert the edit"
replace_in "$ws/leaf/src/lib.rs" $'{\n    2\n}' $'{\n    1\n}'
kcargo "$ws" build
assert_file_contains "$LAST_ERR" 'Compiling leaf' "cargo should have rebuilt leaf after the revert"
assert_no_real_compiles "after reverting the edit"
assert_app_baseline "$ws"

note "re-apply the edit"
replace_in "$ws/leaf/src/lib.rs" $'{\n    1\n}' $'{\n    2\n}'
kcargo "$ws" build
assert_no_real_compiles "after re-applying the edit (both versions are in the store)"
assert_app "$ws" debug leaf_version=2

note "edit the mid crate: leaf is not recompiled"
replace_in "$ws/mid/src/lib.rs" '"mid says hi"' '"mid says yo"'
kcargo "$ws" build
assert_compiled_set "mid:mid app:fixture_app" "after editing mid/src/lib.rs"
assert_app "$ws" debug "shout=MID SAYS YO" leaf_version=2

note "edit the binary only"
replace_in "$ws/app/src/main.rs" 'println!("greeting={}"' 'println!("Greeting={}"'
kcargo "$ws" build
assert_compiled_set "app:fixture_app" "after editing app/src/main.rs"
assert_app "$ws" debug "Greeting=hello from data"
