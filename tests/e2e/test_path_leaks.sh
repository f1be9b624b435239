#!/usr/bin/env bash
# Paths that reach a program's bytes in forms kache's own remapping and raw-root
# scan used to miss, each with one store shared by two checkouts (or "machines"):
#   (a) the user's own --remap-path-prefix (RUSTFLAGS) wins over kache's, so the
#       binary holds a checkout-derived path (/src/ck-a): it must never be served
#       to the other checkout (whose plain cargo build says /src/ck-b), yet still hit
#       in its own;
#   (b) HOME=/root (root in a container): an env! value under it must make the
#       entry specific to that home, while a program that only names "/root" and
#       "/tmp" stays shared;
#   (c) the same with TMPDIR=/tmp against another TMPDIR.
# Nothing is written below /root: HOME=/root is only a value here, and the
# toolchain stays where it is (cargo runs from a link in the test directory).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# has_bytes FILE TEXT: the file holds TEXT verbatim.
has_bytes() { grep -aqF -- "$2" "$1"; }

# ---------------------------------------------------------------- (a)
note "(a) the user's --remap-path-prefix, two checkouts below the mapped prefix"
a1=$(new_workspace e2/ck-a pathenv)
a2=$(new_workspace e2/ck-b pathenv)
export RUSTFLAGS="--remap-path-prefix=$TEST_TMP/e2=/src"
kcargo "$a1" build
assert_compiled 'pathenv:plain' "cold build of checkout a"
has_bytes "$a1/target/debug/plain" "/src/ck-a" || fail "checkout a's binary does not hold the user's mapping /src/ck-a"

kcargo "$a2" build
bin=$a2/target/debug/plain
if has_bytes "$bin" "/src/ck-a"; then
  fail "checkout b was served checkout a's binary: it holds /src/ck-a (plain cargo writes /src/ck-b)"
fi
has_bytes "$bin" "/src/ck-b" || fail "checkout b's binary does not hold its own mapping /src/ck-b"
assert_compiled 'pathenv:plain' "checkout b under the user's remapping"

note "(a) the same checkout still hits"
(cd "$a1" && cargo clean -q)
kcargo "$a1" build
assert_no_real_compiles "rebuild of checkout a after cargo clean, with the user's remapping"
has_bytes "$a1/target/debug/plain" "/src/ck-a" || fail "checkout a's restored binary lost its /src/ck-a"
unset RUSTFLAGS

# The toolchain stays where it is while HOME and TMPDIR change, outside either
# home: cargo sets $CARGO to its own (resolved) path, and a path below one home
# only would differ between the two. rustc is the shim already; cargo runs from
# a link (or copy) in the test's directory.
export CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
command -v rustup >/dev/null 2>&1 && export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
real_cargo=$(rustup which cargo 2>/dev/null || readlink -f "$(command -v cargo)")
# link_cargo DIR: cargo at DIR/cargo.
link_cargo() {
  mkdir -p "$1"
  ln "$real_cargo" "$1/cargo" 2>/dev/null || cp "$real_cargo" "$1/cargo"
}
link_cargo "$TEST_TMP/cargo-bin"
base_path=$PATH
export PATH=$TEST_TMP/cargo-bin:$base_path

# sdk_line DIR: what DIR's sdk program prints.
sdk_line() { "$1/target/debug/sdk" || fail "$1/target/debug/sdk failed"; }

# ---------------------------------------------------------------- (b)
note "(b) HOME=/root, then another home (one store, two checkouts)"
b1=$(new_workspace root-home/ws pathenv)
b2=$(new_workspace other-home/ws pathenv)
h2=$TEST_TMP/h2
mkdir -p "$h2"
KACHE_E2E_SDK_DIR=/root/sdk HOME=/root kcargo "$b1" build
assert_eq "$(sdk_line "$b1")" "sdk=/root/sdk" "sdk with HOME=/root"

KACHE_E2E_SDK_DIR=$h2/sdk HOME="$h2" kcargo "$b2" build
assert_eq "$(sdk_line "$b2")" "sdk=$h2/sdk" "sdk with HOME=$h2 (an entry holding /root/sdk was served)"
# Sharing survives: the names "/root" and "/tmp" alone do not mark an entry.
assert_compiled_set 'pathenv:sdk' "the other home: only the program holding a path below HOME"

# ---------------------------------------------------------------- (c)
note "(c) TMPDIR=/tmp, then another TMPDIR"
c1=$(new_workspace tmp-one/ws pathenv)
c2=$(new_workspace tmp-two/ws pathenv)
h3=$TEST_TMP/h3 t2=$TEST_TMP/t2
mkdir -p "$h3" "$t2"
# cargo below the common home: the same path relative to it whatever TMPDIR is.
link_cargo "$h3/cargo-bin"
export PATH=$h3/cargo-bin:$base_path
TMPDIR=/tmp KACHE_E2E_SDK_DIR=/tmp/sdk HOME="$h3" kcargo "$c1" build
assert_eq "$(sdk_line "$c1")" "sdk=/tmp/sdk" "sdk with TMPDIR=/tmp"
TMPDIR=$t2 KACHE_E2E_SDK_DIR=$t2/sdk HOME="$h3" kcargo "$c2" build
assert_eq "$(sdk_line "$c2")" "sdk=$t2/sdk" "sdk with TMPDIR=$t2 (an entry holding /tmp/sdk was served)"
assert_compiled_set 'pathenv:sdk' "the other TMPDIR: only the program holding a path below TMPDIR"
