#!/usr/bin/env bash
# kache init in a fresh HOME: --check changes nothing and says so with exit 1; init
# --no-service writes cargo's build.rustc-wrapper and kache's config file; a cargo build
# then goes through kache; a second init has nothing to do. An existing cargo config keeps
# its other settings, another wrapper is replaced only with -y, a malformed file is left
# alone, and kache's own config file is never overwritten.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export HOME=$TEST_TMP/home CARGO_HOME=$TEST_TMP/home/.cargo
mkdir -p "$HOME"
unset KACHE_CACHE_DIR # the default store under the new HOME
CARGO_CFG=$CARGO_HOME/config.toml
KACHE_CFG=$XDG_CONFIG_HOME/kache/config.toml
SELF=$(readlink -f "$KACHE")

# init ARGS...: runs kache init; sets RC, output in $TEST_TMP/init.out and init.err.
init() {
  RC=0
  "$KACHE" init "$@" >"$TEST_TMP/init.out" 2>"$TEST_TMP/init.err" || RC=$?
  sed 's/^/   | /' "$TEST_TMP/init.out" "$TEST_TMP/init.err"
  [[ $RC != 2 ]] || fail "kache init $*: usage error"
}

# wrapper_in FILE: build.rustc-wrapper of a TOML file, read by Python's own parser.
wrapper_in() {
  python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb")).get("build", {}).get("rustc-wrapper", ""))' "$1" ||
    fail "$1 is not valid TOML: $(cat "$1")"
}

note "init --check in a fresh HOME: changes pending, nothing written"
init --check
assert_eq "$RC" 1 "init --check exit status with changes pending"
assert_file_contains "$TEST_TMP/init.out" "would set build.rustc-wrapper" "--check says what it would do"
[[ -z $(find "$HOME" "$XDG_CONFIG_HOME" -mindepth 1 2>/dev/null) ]] || fail "init --check wrote files: $(find "$HOME" "$XDG_CONFIG_HOME")"

note "init --no-service writes both files"
init --no-service
assert_eq "$RC" 0 "init --no-service exit status"
[[ -f $CARGO_CFG ]] || fail "init did not write $CARGO_CFG"
assert_eq "$(wrapper_in "$CARGO_CFG")" "$SELF" "build.rustc-wrapper in cargo's config"
[[ -f $KACHE_CFG ]] || fail "init did not write $KACHE_CFG"
assert_file_contains "$KACHE_CFG" "^# max_size = " "kache's config holds the defaults, commented"

note "a cargo build with no RUSTC_WRAPPER set now goes through kache"
ws=$(new_workspace ws)
pcargo "$ws" build
misses=$(KACHE_CACHE_DIR= stats_field misses)
assert_ge "$misses" 1 "kache recorded the build's misses"
[[ -d $XDG_CACHE_HOME/kache/entries ]] || fail "no store at the default place after the build"

note "init again: nothing to do"
init --check --no-service
assert_eq "$RC" 0 "init --check after init"
assert_file_contains "$TEST_TMP/init.out" "^nothing to do" "--check says nothing to do"
init --check
assert_eq "$RC" 0 "init --check (service asked, no remote) after init"
assert_file_contains "$TEST_TMP/init.out" "^service: not installed: no remote is configured" "without a remote, no service, and why"

note "kache's config file is never overwritten"
echo 'max_size = "1G"  # mine' >"$KACHE_CFG"
init --no-service
assert_eq "$(cat "$KACHE_CFG")" 'max_size = "1G"  # mine' "kache's config file after init"

note "an existing cargo config keeps its other settings"
cat >"$CARGO_CFG" <<'TOML'
# my settings
[net]
retry = 3

[build]
jobs = 2 # two

[alias]
b = "build"
TOML
init --no-service
assert_eq "$RC" 0 "init over an existing config"
assert_eq "$(wrapper_in "$CARGO_CFG")" "$SELF" "build.rustc-wrapper added to the existing [build]"
python3 - "$CARGO_CFG" <<'PY' || fail "init lost settings of cargo's config: $(cat "$CARGO_CFG")"
import sys, tomllib
d = tomllib.load(open(sys.argv[1], "rb"))
assert d["net"] == {"retry": 3}, d
assert d["build"]["jobs"] == 2, d
assert d["alias"] == {"b": "build"}, d
PY
assert_file_contains "$CARGO_CFG" "^# my settings" "comments are kept"
assert_file_contains "$CARGO_CFG" "^jobs = 2 # two" "lines are kept as written"

note "another wrapper: refused without -y, replaced with -y"
printf '[build]\nrustc-wrapper = "sccache"\njobs = 4\n' >"$CARGO_CFG"
cp "$CARGO_CFG" "$TEST_TMP/before.toml"
init --no-service
assert_eq "$RC" 1 "init with another wrapper and no -y"
assert_file_contains "$TEST_TMP/init.err" "sccache.*kache init -y" "the refusal names the wrapper and -y"
assert_same_file "$CARGO_CFG" "$TEST_TMP/before.toml" "cargo's config unchanged without -y"
init --check --no-service
assert_eq "$RC" 1 "init --check with another wrapper"
init -y --no-service
assert_eq "$RC" 0 "init -y"
assert_eq "$(wrapper_in "$CARGO_CFG")" "$SELF" "-y replaces the other wrapper"
assert_file_contains "$CARGO_CFG" "^jobs = 4" "-y keeps the other settings"

note "a malformed cargo config is reported and left alone"
printf '[build\njobs = 2\n' >"$CARGO_CFG"
cp "$CARGO_CFG" "$TEST_TMP/before.toml"
init -y --no-service
assert_eq "$RC" 1 "init over a malformed config"
assert_file_contains "$TEST_TMP/init.err" "$CARGO_CFG:1: .*not changed" "the malformed file is named"
assert_same_file "$CARGO_CFG" "$TEST_TMP/before.toml" "the malformed config is not clobbered"
note "passed"
