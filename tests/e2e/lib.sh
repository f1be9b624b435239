# Shared helpers for kache's end-to-end tests. Each test_*.sh sources it:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# What it sets up, per test:
#   TEST_TMP          a fresh temporary directory, removed on exit
#                     (KACHE_E2E_KEEP=1 keeps it and prints its path)
#   KACHE             the kache binary under test ($KACHE_BUILD_ROOT/apps/kache/kache,
#                     or $KACHE_BIN: e.g. a copy, while the build dir is being rebuilt)
#   KACHE_CACHE_DIR   $TEST_TMP/cache, exported: every test starts with an empty store
#   RUSTC             $TEST_TMP/shim/rustc, exported: a shim that logs every real
#                     compile to COMPILE_LOG and then runs the real rustc. kache
#                     sees argv[1] ending in "rustc" and forwards to it on a miss,
#                     so the log counts the compiles that really happened. kache's
#                     own counters are never used to count compiles.
#   CLIPPY_SHIM       $TEST_TMP/shim/clippy-driver, the same for clippy-driver
#
# Cargo is always run through kcargo (kache as RUSTC_WRAPPER) or pcargo (no
# wrapper), which reset COMPILE_LOG first, so count_real_compiles and
# compiled_units describe the last cargo command only.

set -euo pipefail

E2E_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${KACHE_SOURCE_ROOT:=$(cd "$E2E_DIR/../.." && pwd)}"
: "${KACHE_BUILD_ROOT:=$KACHE_SOURCE_ROOT/build}"
KACHE=${KACHE_BIN:-$KACHE_BUILD_ROOT/apps/kache/kache}
FIXTURES=$KACHE_SOURCE_ROOT/tests/fixtures
TEST_NAME=$(basename "$0" .sh)

# ---------------------------------------------------------------- failures

# skip MESSAGE...: the test cannot run on this machine; meson reports it as SKIP (exit 77),
# never as a pass.
skip() {
  echo "SKIP: $TEST_NAME: $*"
  exit 77
}

# require_s3_server: skips the test unless the loopback S3 server (tests/s3) can run here:
# node and npm present and its package installed (installing it now if it is missing).
# Its start script exits 77 exactly when the server cannot run on this machine; any other
# failure to install it fails the test.
require_s3_server() {
  local err=$TEST_TMP/s3-install.err rc=0
  bash "$KACHE_SOURCE_ROOT/tests/s3/start-s3-server.sh" --prefix "$KACHE_BUILD_ROOT/s3-server" --install-only \
    2>"$err" || rc=$?
  [[ $rc -eq 77 ]] && skip "the loopback S3 server cannot run here: $(tail -n 1 "$err")"
  [[ $rc -eq 0 ]] || fail "installing the loopback S3 server failed (exit $rc): $(tail -n 5 "$err")"
}

# fail MESSAGE...: prints the failure (and the last cargo stderr, if any) and exits 1.
fail() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  if [[ -n ${LAST_CMD:-} ]]; then
    echo "---- last command: $LAST_CMD (in ${LAST_DIR:-?})" >&2
    if [[ -s ${LAST_ERR:-/nonexistent} ]]; then
      echo "---- its stderr (last 60 lines):" >&2
      tail -n 60 "$LAST_ERR" >&2
    fi
    if [[ -s ${COMPILE_LOG:-/nonexistent} ]]; then
      echo "---- its real compiles:" >&2
      cat "$COMPILE_LOG" >&2
    fi
  fi
  exit 1
}

# note MESSAGE...: progress line in the test log.
note() { echo "== $*"; }

assert_eq() { # ACTUAL EXPECTED MESSAGE
  [[ "$1" == "$2" ]] || fail "$3: expected '$2', got '$1'"
}

assert_ne() { # ACTUAL UNEXPECTED MESSAGE
  [[ "$1" != "$2" ]] || fail "$3: got '$1'"
}

assert_ge() { # ACTUAL MIN MESSAGE (integers)
  [[ "$1" =~ ^-?[0-9]+$ ]] || fail "$3: '$1' is not a number"
  (( $1 >= $2 )) || fail "$3: expected >= $2, got $1"
}

assert_le() { # ACTUAL MAX MESSAGE (integers)
  [[ "$1" =~ ^-?[0-9]+$ ]] || fail "$3: '$1' is not a number"
  (( $1 <= $2 )) || fail "$3: expected <= $2, got $1"
}

# assert_file_contains FILE REGEX MESSAGE (grep -E)
assert_file_contains() {
  grep -Eq -- "$2" "$1" || fail "$3: /$2/ not found in $1"
}

assert_file_not_contains() { # FILE REGEX MESSAGE
  if grep -Eq -- "$2" "$1"; then
    fail "$3: /$2/ found in $1: $(grep -E -m3 -- "$2" "$1")"
  fi
}

assert_same_file() { # A B MESSAGE
  if ! cmp -s "$1" "$2"; then
    echo "---- diff $1 $2:" >&2
    diff "$1" "$2" >&2 || true
    fail "$3"
  fi
}

# ---------------------------------------------------------------- set-up

[[ -x $KACHE ]] || fail "kache binary not found at $KACHE (build it: meson compile -C build)"
command -v cargo >/dev/null || fail "cargo not on PATH"

# A clean environment: nothing from the caller may steer cargo, rustc or kache.
unset RUSTC RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTDOC RUSTDOC_WRAPPER RUSTFLAGS \
  RUSTDOCFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR CARGO_INCREMENTAL CARGO_BUILD_RUSTFLAGS \
  CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_JOBS CARGO_PROFILE_DEV_INCREMENTAL CARGO_BUILD_RUSTC \
  CARGO_BUILD_RUSTC_WRAPPER CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS KACHE_FIXTURE_MSG \
  FIXTURE_EXTRA CARGO_MAKEFLAGS MAKEFLAGS
while read -r v; do
  case $v in
    KACHE_SOURCE_ROOT|KACHE_BUILD_ROOT|KACHE_TEST_DATA|KACHE_WORKLOAD_DIR|KACHE_E2E_KEEP|KACHE_BIN) ;;
    KACHE_*) unset "$v" ;;
  esac
done < <(compgen -e)
export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never CARGO_TERM_VERBOSE=false

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/kache-e2e.$TEST_NAME.XXXXXX")
_cleanup() {
  local rc=$?
  jobs -p | xargs -r kill 2>/dev/null || true
  if [[ ${KACHE_E2E_KEEP:-0} == 1 ]]; then
    echo "kept $TEST_TMP" >&2
  else
    chmod -R u+w "$TEST_TMP" 2>/dev/null || true
    rm -rf "$TEST_TMP"
  fi
  exit "$rc"
}
trap _cleanup EXIT

export KACHE_CACHE_DIR=$TEST_TMP/cache
# The user's config file and cache must not steer the tests: the default
# config path ($XDG_CONFIG_HOME/kache/config.toml) and the default store
# ($XDG_CACHE_HOME/kache) point into TEST_TMP. A test that wants a config file
# sets KACHE_CONFIG.
export XDG_CONFIG_HOME=$TEST_TMP/xdg-config XDG_CACHE_HOME=$TEST_TMP/xdg-cache
COMPILE_LOG=$TEST_TMP/compiles.log
: > "$COMPILE_LOG"

if command -v rustup >/dev/null 2>&1 && REAL_RUSTC=$(rustup which rustc 2>/dev/null); then
  REAL_CLIPPY=$(rustup which clippy-driver 2>/dev/null || true)
else
  REAL_RUSTC=$(readlink -f "$(command -v rustc)")
  REAL_CLIPPY=$(command -v clippy-driver || true)
fi
[[ -x $REAL_RUSTC ]] || fail "cannot find the real rustc"

# write_shim PATH REAL TOOL: a compiler shim that logs one line per real compile
# (an invocation with --crate-name whose name does not contain ___, i.e. not one
# of cargo's probes) and then execs REAL. Log line:
#   <package>:<crate> <crate-type> emit=<emit> tool=<tool> [test] [incr] [probe]
# "probe" marks compiles that cargo did not issue (no -C metadata=), such as the
# feature probes that build scripts run themselves (anyhow's and thiserror's
# through $RUSTC_WRAPPER, autocfg's from stdin): they run on every build-script
# run, so count_real_compiles leaves them out.
# E2E_SHIM_HOOK (a shell command) runs after the real compile of the unit named
# by E2E_SHIM_HOOK_UNIT ("<package>:<crate>"), before the shim exits.
write_shim() {
  local path=$1 real=$2 tool=$3
  cat >"$path" <<EOF
#!/usr/bin/env bash
log='$COMPILE_LOG'
real='$real'
EOF
  cat >>"$path" <<'EOF'
crate= emit= ctype= flags= prev= cargo_unit=
for a in "$@"; do
  case $prev in
    --crate-name) crate=$a ;;
    --emit) emit=${emit:+$emit,}$a ;;
    --crate-type) ctype=${ctype:+$ctype,}$a ;;
    -C) [[ $a == metadata=* ]] && cargo_unit=1 ;;
  esac
  case $a in
    --crate-name=*) crate=${a#--crate-name=} ;;
    --emit=*) emit=${emit:+$emit,}${a#--emit=} ;;
    -Cmetadata=*) cargo_unit=1 ;;
    --crate-type=*) ctype=${ctype:+$ctype,}${a#--crate-type=} ;;
    --test) flags+=" test" ;;
    incremental=*|-Cincremental=*) flags+=" incr" ;;
  esac
  prev=$a
done
if [[ -n $crate && $crate != *___* ]]; then
  [[ -n $cargo_unit ]] || flags+=" probe"
  unit="${CARGO_PKG_NAME:-?}:$crate"
EOF
  echo "  echo \"\$unit \${ctype:-bin} emit=\${emit:-?} tool=$tool\$flags\" >> \"\$log\"" >>"$path"
  cat >>"$path" <<'EOF'
  if [[ -n ${E2E_SHIM_HOOK:-} && $unit == "${E2E_SHIM_HOOK_UNIT:-}" ]]; then
    rc=0; "$real" "$@" || rc=$?
    bash -c "$E2E_SHIM_HOOK"
    exit $rc
  fi
fi
exec "$real" "$@"
EOF
  chmod +x "$path"
}

mkdir -p "$TEST_TMP/shim"
write_shim "$TEST_TMP/shim/rustc" "$REAL_RUSTC" rustc
export RUSTC=$TEST_TMP/shim/rustc
CLIPPY_SHIM=
if [[ -n $REAL_CLIPPY && -x $REAL_CLIPPY ]]; then
  write_shim "$TEST_TMP/shim/clippy-driver" "$REAL_CLIPPY" clippy
  CLIPPY_SHIM=$TEST_TMP/shim/clippy-driver
fi

# ---------------------------------------------------------------- workspaces

# new_workspace NAME [FIXTURE]: copies tests/fixtures/FIXTURE (default chain)
# to $TEST_TMP/NAME and prints that path.
new_workspace() {
  local name=$1 fixture=${2:-chain}
  local dir=$TEST_TMP/$name
  [[ ! -e $dir ]] || fail "workspace $dir exists already"
  mkdir -p "$(dirname "$dir")"
  cp -r "$FIXTURES/$fixture" "$dir"
  rm -rf "$dir/target"
  echo "$dir"
}

# replace_in FILE OLD NEW: literal replacement that must change the file.
replace_in() {
  local file=$1 old=$2 new=$3
  python3 - "$file" "$old" "$new" <<'EOF' || fail "replace_in: '$old' not found in $file"
import sys
path, old, new = sys.argv[1:4]
text = open(path).read()
if old not in text:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
EOF
}

# ---------------------------------------------------------------- cargo

LAST_OUT=$TEST_TMP/last.stdout
LAST_ERR=$TEST_TMP/last.stderr
LAST_CMD=
LAST_DIR=

# kcargo DIR ARGS...: `cargo ARGS` in DIR with kache as RUSTC_WRAPPER.
# Fails the test if cargo fails (unless EXPECT_CARGO_FAIL=1), or if kache
# printed a warning (unless ALLOW_KACHE_WARNINGS=1).
kcargo() { local dir=$1; shift; _run_cargo "$dir" "$KACHE" "$@"; }

# pcargo DIR ARGS...: the same without any wrapper.
pcargo() { local dir=$1; shift; _run_cargo "$dir" "" "$@"; }

_run_cargo() {
  local dir=$1 wrapper=$2; shift 2
  : > "$COMPILE_LOG"
  LAST_CMD="cargo $*${wrapper:+ (RUSTC_WRAPPER=kache)}"
  LAST_DIR=$dir
  local rc=0 t0 t1
  t0=$(date +%s%N)
  if [[ -n $wrapper ]]; then
    (cd "$dir" && RUSTC_WRAPPER=$wrapper cargo "$@") >"$LAST_OUT" 2>"$LAST_ERR" || rc=$?
  else
    (cd "$dir" && cargo "$@") >"$LAST_OUT" 2>"$LAST_ERR" || rc=$?
  fi
  t1=$(date +%s%N)
  echo "   \$ $LAST_CMD  [in ${dir#$TEST_TMP/}] -> exit $rc, $(( (t1 - t0) / 1000000 )) ms, real compiles: $(count_real_compiles) ($(compiled_units | tr '\n' ' '))"
  if [[ ${EXPECT_CARGO_FAIL:-0} != 1 && $rc != 0 ]]; then
    fail "cargo $* failed with exit $rc"
  fi
  if [[ ${ALLOW_KACHE_WARNINGS:-0} != 1 ]] && grep -q 'kache: warning' "$LAST_ERR"; then
    fail "kache printed a warning during a normal build: $(grep -m3 'kache: warning' "$LAST_ERR")"
  fi
  return $rc
}

# count_real_compiles [UNIT_REGEX]: real compiles during the last cargo command
# (probe compiles excluded), optionally only units matching UNIT_REGEX (grep -E
# on "<package>:<crate>", anchored).
count_real_compiles() {
  local re=${1:-.*}
  { grep -v ' probe' "$COMPILE_LOG" || true; } | awk '{print $1}' | { grep -Ec "^($re)\$" || true; }
}

# count_probe_compiles: build-script probe compiles during the last cargo command.
count_probe_compiles() { grep -c ' probe' "$COMPILE_LOG" || true; }

# compiled_units: sorted unique "<package>:<crate>" that were really compiled.
compiled_units() {
  { grep -v ' probe' "$COMPILE_LOG" || true; } | awk '{print $1}' | sort -u
}

# assert_no_real_compiles MESSAGE
assert_no_real_compiles() {
  local n
  n=$(count_real_compiles)
  [[ $n == 0 ]] || fail "$1: expected zero real compiles, got $n: $(compiled_units | tr '\n' ' ')"
}

# assert_compiled UNIT_REGEX MESSAGE: at least one real compile of a matching unit.
assert_compiled() {
  local n
  n=$(count_real_compiles "$1")
  (( n > 0 )) || fail "$2: expected a real compile of /$1/, got none (compiled: $(compiled_units | tr '\n' ' '))"
}

# assert_not_compiled UNIT_REGEX MESSAGE
assert_not_compiled() {
  local n
  n=$(count_real_compiles "$1")
  [[ $n == 0 ]] || fail "$2: expected no real compile of /$1/, got $n"
}

# assert_compiled_set "UNIT UNIT ..." MESSAGE: exactly these units were compiled.
assert_compiled_set() {
  local want got
  want=$(tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -u | tr '\n' ' ')
  got=$(compiled_units | tr '\n' ' ')
  [[ $want == "$got" ]] || fail "$2: expected real compiles of exactly [ $want], got [ $got]"
}

# ---------------------------------------------------------------- the fixture program

# app_output DIR [PROFILE]: runs the fixture's program and prints its output.
app_output() {
  local dir=$1 profile=${2:-debug}
  local exe=$dir/target/$profile/fixture-app
  [[ -x $exe ]] || fail "$exe missing or not executable"
  "$exe" || fail "$exe exited with status $?"
}

# assert_app DIR PROFILE KEY=VALUE...: the program prints each KEY=VALUE line.
assert_app() {
  local dir=$1 profile=$2; shift 2
  local out kv
  out=$(app_output "$dir" "$profile")
  for kv in "$@"; do
    grep -qxF -- "$kv" <<<"$out" || fail "fixture-app ($profile) should print '$kv'; it printed: $(tr '\n' ' ' <<<"$out")"
  done
}

# The fixture program's output before any edit.
FIXTURE_BASELINE='greeting=hello from data
generated=gen-alpha
env=unset
module=module-one
volume=quiet
flag=flag-off
leaf_version=1
native=1
shout=MID SAYS HI
describe=gen-alpha:42
profile=debug'

# assert_app_baseline DIR: the program prints exactly FIXTURE_BASELINE.
assert_app_baseline() {
  local out
  out=$(app_output "$1" debug)
  [[ $out == "$FIXTURE_BASELINE" ]] || fail "fixture-app output differs from the fixture's baseline:
$(diff <(echo "$FIXTURE_BASELINE") <(echo "$out") || true)"
}

# ---------------------------------------------------------------- kache CLI

# stats_field NAME: one field of `kache stats --json`.
stats_field() {
  local json
  json=$("$KACHE" stats --json) || fail "kache stats --json failed"
  python3 -c '
import json, sys
d = json.loads(sys.argv[1])
if sys.argv[2] not in d:
    sys.exit("key %r missing from kache stats --json: %s" % (sys.argv[2], sys.argv[1]))
v = d[sys.argv[2]]
if isinstance(v, float) and v.is_integer():
    v = int(v)
print(v)
' "$json" "$1" || fail "kache stats --json: cannot read '$1'"
}

# count_entries: entry files in the local store (read from disk, not from kache).
count_entries() {
  if [[ -d $KACHE_CACHE_DIR/entries ]]; then
    find "$KACHE_CACHE_DIR/entries" -type f | wc -l
  else
    echo 0
  fi
}

# events_json: all event lines of the store as one JSON array (validates each line).
events_json() {
  python3 - "$KACHE_CACHE_DIR/events" <<'EOF'
import glob, json, os, sys
out = []
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    for n, line in enumerate(open(path), 1):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError as e:
            sys.exit("%s:%d: not JSON (%s): %s" % (path, n, e, line[:200]))
print(json.dumps(out))
EOF
}

# copy_source FROM TO: a workspace without its target/.
copy_source() {
  mkdir -p "$2"
  (cd "$1" && tar cf - --exclude=./target .) | (cd "$2" && tar xf -)
}

# get_workload DEST: the benchmark workload at DEST, copied from
# KACHE_WORKLOAD_DIR when set, otherwise generated by bench/make-workload.sh.
get_workload() {
  local dest=$1
  if [[ -n ${KACHE_WORKLOAD_DIR:-} ]]; then
    [[ -f $KACHE_WORKLOAD_DIR/Cargo.toml ]] || fail "KACHE_WORKLOAD_DIR=$KACHE_WORKLOAD_DIR has no Cargo.toml"
    note "copying the workload from $KACHE_WORKLOAD_DIR"
    copy_source "$KACHE_WORKLOAD_DIR" "$dest"
  else
    note "generating the workload"
    mkdir -p "$TEST_TMP"
    bash "$KACHE_SOURCE_ROOT/bench/make-workload.sh" "$dest" >"$TEST_TMP/make-workload.log" 2>&1 ||
      fail "bench/make-workload.sh failed: $(tail -5 "$TEST_TMP/make-workload.log")"
  fi
}
