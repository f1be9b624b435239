#!/usr/bin/env bash
# KACHE_KEY_ENV_VARS=A,B adds environment variables to the key: when one of
# them changes, every unit recompiles; an unlisted variable does not matter.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)

note "an unlisted variable is not part of the key"
FIXTURE_EXTRA=1 kcargo "$ws" build
units=$(count_real_compiles)
pcargo "$ws" clean
FIXTURE_EXTRA=2 kcargo "$ws" build
assert_no_real_compiles "FIXTURE_EXTRA changed but is not in KACHE_KEY_ENV_VARS"

note "KACHE_KEY_ENV_VARS=OTHER_VAR,FIXTURE_EXTRA"
export KACHE_KEY_ENV_VARS=OTHER_VAR,FIXTURE_EXTRA
pcargo "$ws" clean
FIXTURE_EXTRA=1 kcargo "$ws" build
pcargo "$ws" clean
FIXTURE_EXTRA=1 kcargo "$ws" build
assert_no_real_compiles "same FIXTURE_EXTRA again"
pcargo "$ws" clean
FIXTURE_EXTRA=2 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "FIXTURE_EXTRA (listed in KACHE_KEY_ENV_VARS) changed: real compiles"
assert_app_baseline "$ws"
pcargo "$ws" clean
FIXTURE_EXTRA=1 kcargo "$ws" build
assert_no_real_compiles "FIXTURE_EXTRA back to 1"
pcargo "$ws" clean
OTHER_VAR=x FIXTURE_EXTRA=1 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "OTHER_VAR (the first listed variable) set: real compiles"
pcargo "$ws" clean
FIXTURE_EXTRA=2 OTHER_VAR=x kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "both listed variables set, a new combination: real compiles"

note "the same list from the config file selected with KACHE_CONFIG"
unset KACHE_KEY_ENV_VARS
export KACHE_CACHE_DIR=$TEST_TMP/cache-config
export KACHE_CONFIG=$TEST_TMP/config.toml
printf 'key_env_vars = ["FIXTURE_EXTRA"]\n' > "$KACHE_CONFIG"
pcargo "$ws" clean
FIXTURE_EXTRA=1 kcargo "$ws" build
pcargo "$ws" clean
FIXTURE_EXTRA=2 kcargo "$ws" build
assert_eq "$(count_real_compiles)" "$units" "FIXTURE_EXTRA (listed in the config file's key_env_vars) changed: real compiles"
pcargo "$ws" clean
FIXTURE_EXTRA=1 kcargo "$ws" build
assert_no_real_compiles "FIXTURE_EXTRA back to 1 (config file)"
