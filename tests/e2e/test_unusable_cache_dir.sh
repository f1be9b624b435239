#!/usr/bin/env bash
# A cache dir kache cannot even look into (below a directory with mode 000)
# still builds the right program: each compile prints one kache warning and
# runs the real compiler, even where a library call throws instead of
# returning an error. The cache never breaks a build.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Root ignores permission bits. Cargo (and so kache) runs without the
# capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH): then mode
# 000 stops root like anyone else, and root's toolchain stays reachable.
drop_caps=()
if [[ $(id -u) == 0 ]]; then
  if ! command -v setpriv >/dev/null ||
     ! setpriv --bounding-set -dac_override,-dac_read_search true 2>/dev/null; then
    echo "SKIP: running as root and setpriv cannot drop CAP_DAC_OVERRIDE here"
    exit 77
  fi
  drop_caps=(setpriv --bounding-set -dac_override,-dac_read_search)
fi
cargo() { "${drop_caps[@]}" "$(type -P cargo)" "$@"; }

locked=$TEST_TMP/locked
mkdir -p "$locked"
chmod 000 "$locked"
export KACHE_CACHE_DIR=$locked/cache
# The check that this set-up really denies access (else the test proves nothing).
if "${drop_caps[@]}" test -e "$locked/."; then
  echo "SKIP: mode 000 does not deny access here"
  exit 77
fi

# kache_warnings: the kache warning lines of the last cargo command.
kache_warnings() { grep -c '^kache: warning:' "$LAST_ERR" || true; }

assert_fallback_only() { # MESSAGE
  assert_file_not_contains "$LAST_ERR" 'terminate called|kache: error|Aborted' "$1: kache crashed"
  if grep '^kache: warning:' "$LAST_ERR" | grep -v 'running the compiler without the cache$' | grep -q .; then
    fail "$1: unexpected kache warning: $(grep '^kache: warning:' "$LAST_ERR" | head -3)"
  fi
}

note "one crate: exactly one warning"
tiny=$TEST_TMP/tiny
mkdir -p "$tiny/src"
cat > "$tiny/Cargo.toml" <<'TOML'
[package]
name = "tiny"
version = "0.1.0"
edition = "2021"
TOML
echo 'fn main() { println!("tiny says {}", 6 * 7); }' > "$tiny/src/main.rs"
ALLOW_KACHE_WARNINGS=1 kcargo "$tiny" build
assert_eq "$(count_real_compiles)" 1 "real compiles of the one-crate package"
assert_eq "$(kache_warnings)" 1 "kache warnings for one compile with an unusable cache dir"
assert_fallback_only "one crate"
assert_eq "$("$tiny/target/debug/tiny")" "tiny says 42" "the program built with an unusable cache dir"

note "the fixture workspace: at most one warning per compile, the right program"
ws=$(new_workspace ws)
ALLOW_KACHE_WARNINGS=1 kcargo "$ws" build
units=$(count_real_compiles)
assert_ge "$units" 8 "real compiles with an unusable cache dir"
warnings=$(kache_warnings)
assert_ge "$warnings" 1 "an unusable cache dir should give a kache warning"
assert_le "$warnings" "$(wc -l < "$COMPILE_LOG")" "kache warnings (at most one per compile)"
assert_fallback_only "workspace"
assert_app_baseline "$ws"

note "nothing was created below the locked directory"
chmod 755 "$locked"
assert_eq "$(ls -A "$locked")" "" "kache created something below a directory it cannot enter"
