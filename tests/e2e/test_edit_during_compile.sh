#!/usr/bin/env bash
# A source file edited while rustc compiles must not be recorded with its new
# content: the next build, which compiles the new content, must not be served
# the artifact of the old one. The rustc shim makes the race deterministic: it
# edits leaf/src/util.rs right after the real compile of leaf, before kache
# records the result.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "cold build; util.rs changes (same size) just after leaf is compiled"
E2E_SHIM_HOOK_UNIT=leaf:leaf \
E2E_SHIM_HOOK="sed -i s/module-one/module-two/ '$ws/leaf/src/util.rs'" \
  kcargo "$ws" build
assert_compiled 'leaf:leaf' "cold build"
grep -q module-two "$ws/leaf/src/util.rs" || fail "test harness: the shim hook did not edit util.rs"
# What ran was compiled from the old text.
assert_app "$ws" debug module=module-one

note "rebuild: cargo sees util.rs changed; the result must show the new text"
kcargo "$ws" build
assert_compiled 'leaf:leaf' "rebuild after the edit during compilation (kache served an entry recorded with the edited file)"
assert_app "$ws" debug module=module-two

note "and the store is still usable for both versions"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "warm build after clean"
assert_app "$ws" debug module=module-two
