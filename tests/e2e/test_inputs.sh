#!/usr/bin/env bash
# Every kind of input re-keys when it changes, and the result is correct after:
# a module file (also with its size and mtime kept), an include_str! file, a file a build script generates in
# OUT_DIR, an option_env! variable, a feature, RUSTFLAGS, a `-l static=` archive
# built by a build script, debug vs release, `cargo check` then `cargo build`.
#
# Each case changes one input (keeping file sizes equal where it can, so that a
# stat-only check would be fooled), checks that the affected unit really
# compiled and the program shows the change, reverts (served from the store,
# program back to the baseline), and re-applies (served from the store again).
# The cases run one after another in one workspace; a failing case is reported
# and the next one runs in a fresh copy with a fresh store.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws)
kcargo "$ws" build
assert_app_baseline "$ws"

# toggle_case NAME UNIT_REGEX APPLY REVERT EXPECTED_LINES [CARGO_ARGS...]
#   EXPECTED_LINES: what the program prints while the change is applied, lines
#   separated by ';'.
#   APPLY/REVERT are shell commands run in the workspace; CARGO_ARGS are extra
#   arguments used for builds while the change is applied ("--features x").
#   With CLEAN=1, `cargo clean` runs before the revert and re-apply builds: for
#   changes that give cargo separate artifacts (features), where cargo would
#   otherwise not rebuild at all.
toggle_case() {
  local name=$1 unit=$2 apply=$3 revert=$4 expect=$5; shift 5
  local -a extra=("$@") lines
  IFS=';' read -r -a lines <<<"$expect"
  note "[$name] apply"
  (cd "$ws" && eval "$apply")
  kcargo "$ws" build ${extra[@]+"${extra[@]}"}
  assert_compiled "$unit" "[$name] after the change"
  assert_app "$ws" debug "${lines[@]}"
  note "[$name] revert"
  (cd "$ws" && eval "$revert")
  [[ ${CLEAN:-0} != 1 ]] || pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "[$name] after reverting (the original is in the store)"
  assert_app_baseline "$ws"
  note "[$name] re-apply"
  (cd "$ws" && eval "$apply")
  [[ ${CLEAN:-0} != 1 ]] || pcargo "$ws" clean
  kcargo "$ws" build ${extra[@]+"${extra[@]}"}
  assert_no_real_compiles "[$name] after re-applying (the changed version is in the store)"
  assert_app "$ws" debug "${lines[@]}"
  (cd "$ws" && eval "$revert")
}

case_module_file() {
  toggle_case module-file 'leaf:leaf' \
    "sed -i s/module-one/module-two/ leaf/src/util.rs" \
    "sed -i s/module-two/module-one/ leaf/src/util.rs" \
    module=module-two
}

case_same_size_and_mtime() {
  # Content changes, size and mtime do not (as after `cp -p`, `rsync -t` or a
  # tar extract): only the ctime/inode tells a stat-keyed hash cache that the
  # file changed. The file is made old first, so that it is outside any
  # "too recent to trust" window when it is first hashed.
  note "[same-size-and-mtime] edit in place (same inode), then reset the mtime"
  local f=$ws/leaf/src/util.rs
  touch -d '2020-01-02 03:04:05' "$f"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_app_baseline "$ws"
  sleep 1
  python3 -c '
import sys
with open(sys.argv[1], "r+") as f:
    t = f.read().replace("module-one", "module-six")
    f.seek(0)
    f.write(t)
' "$f"
  touch -d '2020-01-02 03:04:05' "$f"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_compiled 'leaf:leaf' "[same-size-and-mtime] leaf after a same-size edit that kept the mtime"
  assert_app "$ws" debug module=module-six
  sed -i s/module-six/module-one/ "$f"
  touch "$f"
  kcargo "$ws" build
  assert_app_baseline "$ws"
}

case_removed_file() {
  # The module file is deleted and its module inlined: the input set recorded
  # for the old version names a file that no longer exists.
  mkdir -p "$TEST_TMP/saved"
  cp "$ws/leaf/src/util.rs" "$ws/leaf/src/lib.rs" "$TEST_TMP/saved/"
  toggle_case removed-file 'leaf:leaf' \
    "rm leaf/src/util.rs && sed -i 's/^mod util;\$/mod util { pub const WORD: \&str = \"module-gone\"; }/' leaf/src/lib.rs" \
    "cp '$TEST_TMP/saved/util.rs' '$TEST_TMP/saved/lib.rs' leaf/src/" \
    module=module-gone
}

case_include_str() {
  toggle_case include-str 'leaf:leaf' \
    "printf 'hello from DATA' > leaf/data/greeting.txt" \
    "printf 'hello from data' > leaf/data/greeting.txt" \
    "greeting=hello from DATA"
}

case_build_script_output() {
  # build.rs turns build-input.txt into OUT_DIR/gen.rs: the OUT_DIR path stays
  # the same, only the generated file's content changes.
  toggle_case build-script-output 'leaf:leaf' \
    "echo gen-gamma > leaf/build-input.txt" \
    "echo gen-alpha > leaf/build-input.txt" \
    "generated=gen-gamma;describe=gen-gamma:42"
}

case_env_var() {
  note "[env-var] KACHE_FIXTURE_MSG=one"
  KACHE_FIXTURE_MSG=one kcargo "$ws" build
  assert_compiled 'leaf:leaf' "[env-var] after setting KACHE_FIXTURE_MSG"
  assert_app "$ws" debug env=one
  note "[env-var] KACHE_FIXTURE_MSG=two"
  KACHE_FIXTURE_MSG=two kcargo "$ws" build
  assert_compiled 'leaf:leaf' "[env-var] after changing KACHE_FIXTURE_MSG"
  assert_app "$ws" debug env=two
  note "[env-var] unset"
  kcargo "$ws" build
  assert_no_real_compiles "[env-var] after unsetting KACHE_FIXTURE_MSG"
  assert_app_baseline "$ws"
  note "[env-var] KACHE_FIXTURE_MSG=one again"
  KACHE_FIXTURE_MSG=one kcargo "$ws" build
  assert_no_real_compiles "[env-var] KACHE_FIXTURE_MSG=one again"
  assert_app "$ws" debug env=one
  kcargo "$ws" build
}

case_feature() {
  CLEAN=1 toggle_case feature 'leaf:leaf' true true volume=loud --features leaf/loud
}

case_rustflags() {
  note "[rustflags] --cfg kache_fixture_flag"
  RUSTFLAGS="--cfg kache_fixture_flag" kcargo "$ws" build
  assert_compiled 'leaf:leaf' "[rustflags] after adding --cfg to RUSTFLAGS"
  assert_app "$ws" debug flag=flag-on
  note "[rustflags] none"
  kcargo "$ws" build
  assert_no_real_compiles "[rustflags] after removing RUSTFLAGS"
  assert_app_baseline "$ws"
  note "[rustflags] again"
  RUSTFLAGS="--cfg kache_fixture_flag" kcargo "$ws" build
  assert_no_real_compiles "[rustflags] RUSTFLAGS again"
  assert_app "$ws" debug flag=flag-on
  note "[rustflags] -C debug-assertions=off (a -C option; cfg!(debug_assertions) shows it)"
  RUSTFLAGS="-C debug-assertions=off" kcargo "$ws" build
  assert_compiled 'app:fixture_app' "[rustflags] after RUSTFLAGS=-C debug-assertions=off"
  assert_app "$ws" debug profile=release
  kcargo "$ws" build
  assert_no_real_compiles "[rustflags] after removing RUSTFLAGS again"
  assert_app_baseline "$ws"
}

case_static_lib() {
  # native's build script compiles csrc/foo.c into OUT_DIR/libfoo.a; rustc reads
  # it through `-l static=foo` and dep-info does not list it.
  toggle_case static-lib 'native:native' \
    "sed -i 's/return 1;/return 2;/' native/csrc/foo.c" \
    "sed -i 's/return 2;/return 1;/' native/csrc/foo.c" \
    native=2
}

case_profile() {
  note "[profile] release after debug, cargo clean between"
  pcargo "$ws" clean
  kcargo "$ws" build --release
  assert_compiled 'leaf:leaf' "[profile] release build after a debug build"
  assert_compiled 'app:fixture_app' "[profile] release build after a debug build"
  assert_app "$ws" release profile=release greeting="hello from data"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "[profile] debug again"
  assert_app_baseline "$ws"
  pcargo "$ws" clean
  kcargo "$ws" build --release
  assert_no_real_compiles "[profile] release again"
  assert_app "$ws" release profile=release
}

case_check_then_build() {
  note "[check-build] cargo check, then cargo build, into a fresh store"
  local saved=$KACHE_CACHE_DIR
  export KACHE_CACHE_DIR=$TEST_TMP/cache-check
  pcargo "$ws" clean
  kcargo "$ws" check
  assert_compiled 'leaf:leaf' "[check-build] cold cargo check"
  kcargo "$ws" build
  assert_compiled 'leaf:leaf' "[check-build] cargo build after cargo check (a metadata-only entry must not serve a build)"
  assert_compiled 'mid:mid' "[check-build] cargo build after cargo check"
  assert_app_baseline "$ws"
  pcargo "$ws" clean
  kcargo "$ws" check
  assert_no_real_compiles "[check-build] cargo check after clean"
  kcargo "$ws" build
  assert_no_real_compiles "[check-build] cargo build after clean"
  assert_app_baseline "$ws"
  pcargo "$ws" clean
  kcargo "$ws" build
  assert_no_real_compiles "[check-build] cargo build alone after clean"
  assert_app_baseline "$ws"
  export KACHE_CACHE_DIR=$saved
}

failed=()
for c in module_file same_size_and_mtime removed_file include_str build_script_output env_var feature rustflags static_lib profile check_then_build; do
  set +e
  (set -e; "case_$c")
  rc=$?
  set -e
  if (( rc != 0 )); then
    failed+=("$c")
    echo "== case $c FAILED; continuing in a fresh copy of the fixture, with a fresh store" >&2
    rm -rf "$ws"
    ws=$(new_workspace "ws-after-$c")
    export KACHE_CACHE_DIR=$TEST_TMP/cache-after-$c
    (kcargo "$ws" build) >/dev/null || true
  fi
done
(( ${#failed[@]} == 0 )) || fail "failed cases: ${failed[*]}"
