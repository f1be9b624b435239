#!/usr/bin/env bash
# kache why-miss CRATE names what changed since the nearest recorded entry: a flag
# from RUSTFLAGS, a variable read by option_env! (a *_TOKEN one's values elided), a
# source file, a feature, a dependency whose --extern changed, the profile; a crate
# never built says so; a bad crate name is a usage error of one line.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$(new_workspace ws why)
WHY=$TEST_TMP/why.out

# why_miss CRATE REGEX WHAT: `kache why-miss CRATE` succeeds and prints a line matching REGEX.
why_miss() {
  "$KACHE" why-miss "$1" >"$WHY" 2>&1 || fail "kache why-miss $1 failed: $(cat "$WHY")"
  echo "   why-miss $1: $(tr '\n' '|' <"$WHY")"
  assert_file_contains "$WHY" "$2" "why-miss $1 should name $3"
}

note "first build: never built before"
kcargo "$ws" build
why_miss whylib 'never built before' "a first build"

note "RUSTFLAGS --cfg"
RUSTFLAGS="--cfg why_flag" kcargo "$ws" build
why_miss whylib 'flag added: --cfg why_flag \(from RUSTFLAGS\)' "the --cfg from RUSTFLAGS"
why_miss whydep 'flag added: --cfg why_flag \(from RUSTFLAGS\)' "the --cfg from RUSTFLAGS (dependency)"

note "back without RUSTFLAGS (a hit), then a variable read by option_env!"
kcargo "$ws" build
WHY_MSG=hello kcargo "$ws" build
assert_compiled_set "whylib:whylib" "after setting WHY_MSG"
why_miss whylib 'variable WHY_MSG changed: unset -> "hello"' "the changed variable with its values"

note "a secret variable: named, its value elided"
WHY_MSG=hello WHY_API_TOKEN=sekrit-value-123 kcargo "$ws" build
why_miss whylib 'variable WHY_API_TOKEN changed' "the changed token variable"
assert_file_not_contains "$WHY" 'sekrit' "why-miss must not print a token's value"
export WHY_MSG=hello WHY_API_TOKEN=sekrit-value-123

note "a source file"
echo '// an edit' >>"$ws/whylib/src/lib.rs"
kcargo "$ws" build
why_miss whylib 'file changed: whylib/src/lib\.rs \(content changed\)' "the edited file, relative to the workspace"

note "a feature"
kcargo "$ws" build --features whylib/extra
why_miss whylib 'feature "extra" enabled' "the feature"

note "a dependency's source: its --extern changes"
replace_in "$ws/whydep/src/lib.rs" $'{\n    1\n}' $'{\n    2\n}'
kcargo "$ws" build --features whylib/extra
assert_compiled_set "whydep:whydep whylib:whylib" "after editing whydep"
why_miss whylib 'dependency whydep changed' "the dependency"
why_miss whydep 'file changed: whydep/src/lib\.rs' "the dependency's edited file"

note "the profile"
kcargo "$ws" build --features whylib/extra --release
why_miss whylib 'profile changed: -C opt-level=3' "the profile"

note "a crate never built"
why_miss no_such_crate 'never built before' "a crate never built"

note "a bad crate name: non-zero, one line"
rc=0
"$KACHE" why-miss '../etc' >"$WHY" 2>&1 || rc=$?
assert_ne "$rc" 0 "why-miss with a bad crate name should fail"
assert_eq "$(wc -l <"$WHY")" 1 "why-miss with a bad crate name should print one line"

note "why data is private and a corrupt file is no information, not a crash"
bad=$(find "$KACHE_CACHE_DIR/why" -type f -perm /077 | head -1)
[[ -z $bad ]] || fail "why file $bad is readable by others"
for f in "$KACHE_CACHE_DIR"/why/miss/* "$KACHE_CACHE_DIR"/why/recorded/*/*; do
  printf 'kache-why 1\nunit x %%zz y\ngarbage' >"$f"
done
"$KACHE" why-miss whylib >"$WHY" 2>&1 || fail "why-miss on corrupt files failed: $(cat "$WHY")"
echo "ok"
