#!/usr/bin/env bash
# How cargo may call the wrapper, and that none of it breaks a build:
#   - RUSTC given as a bare name found in PATH ("rustc"): cached as usual;
#   - RUSTC under a versioned name (Ubuntu's rustc-1.NN): the build succeeds;
#   - a RUSTC_WORKSPACE_WRAPPER other than clippy-driver (cargo then runs
#     `kache /path/other-wrapper /path/rustc ...`): the build succeeds, and the
#     crates it does not wrap are still cached.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "RUSTC=rustc, found in PATH"
PATH="$TEST_TMP/shim:$PATH" RUSTC=rustc kcargo "$ws" build
assert_compiled 'leaf:leaf' "cold build with RUSTC=rustc (the shim must have run)"
assert_app_baseline "$ws"
pcargo "$ws" clean
PATH="$TEST_TMP/shim:$PATH" RUSTC=rustc kcargo "$ws" build
assert_no_real_compiles "warm build with RUSTC=rustc from PATH"
assert_app_baseline "$ws"

note "RUSTC named rustc-1.95 (a versioned name)"
mkdir -p "$TEST_TMP/versioned"
cp "$TEST_TMP/shim/rustc" "$TEST_TMP/versioned/rustc-1.95"
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 RUSTC=$TEST_TMP/versioned/rustc-1.95 kcargo "$ws" build
assert_app_baseline "$ws"

note "an unknown RUSTC_WORKSPACE_WRAPPER"
cat > "$TEST_TMP/other-wrapper" <<EOF2
#!/usr/bin/env bash
echo "\$*" >> '$TEST_TMP/other-wrapper.log'
exec "\$@"
EOF2
chmod +x "$TEST_TMP/other-wrapper"
export KACHE_CACHE_DIR=$TEST_TMP/cache-other-wrapper
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 RUSTC_WORKSPACE_WRAPPER=$TEST_TMP/other-wrapper kcargo "$ws" build
grep -q 'crate-name mid' "$TEST_TMP/other-wrapper.log" || fail "the workspace wrapper was not run for mid"
assert_app_baseline "$ws"
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 RUSTC_WORKSPACE_WRAPPER=$TEST_TMP/other-wrapper kcargo "$ws" build
assert_not_compiled 'itoa:itoa' "warm build with an unknown workspace wrapper: the registry crate it does not wrap"
assert_app_baseline "$ws"
