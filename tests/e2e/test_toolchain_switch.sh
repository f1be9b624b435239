#!/usr/bin/env bash
# The toolchain identity follows the toolchain that actually runs, not the
# path cargo names: a compiler shim at an unchanged path that now runs another
# toolchain (here stable <-> nightly, chosen by a file the shim reads) must not
# be served the other toolchain's artifacts. (rustup's proxy as RUSTC with a
# rust-toolchain.toml does not reach kache with stale flags: cargo asks the
# proxy again on every build and its -C metadata changes with the toolchain.)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v rustup >/dev/null 2>&1 || skip "rustup is not installed"
RUSTUP_HOME_DIR=$(rustup show home 2>/dev/null) || skip "rustup show home failed"
stable=$(rustup toolchain list | awk '/^stable-/{print $1; exit}')
nightly=$(rustup toolchain list | awk '/^nightly-/{print $1; exit}')
[[ -n $stable && -n $nightly ]] || skip "needs a stable and a nightly toolchain (rustup toolchain list)"
stable_dir=$RUSTUP_HOME_DIR/toolchains/$stable
nightly_dir=$RUSTUP_HOME_DIR/toolchains/$nightly
[[ -x $stable_dir/bin/rustc && -x $nightly_dir/bin/rustc ]] || skip "toolchain binaries not found under $RUSTUP_HOME_DIR"
stable_v=$("$stable_dir/bin/rustc" -V | awk '{print $2}')
nightly_v=$("$nightly_dir/bin/rustc" -V | awk '{print $2}')
[[ $stable_v != "$nightly_v" ]] || skip "stable and nightly are the same version ($stable_v)"

# A lib and a bin using it: a dependency built by one rustc is refused by the
# other (E0514), and the binary's .comment section names the rustc that built it.
ws=$TEST_TMP/ts
mkdir -p "$ws/tl/src" "$ws/tapp/src"
printf '[workspace]\nresolver = "2"\nmembers = ["tl", "tapp"]\n' > "$ws/Cargo.toml"
printf '[package]\nname = "tl"\nversion = "0.1.0"\nedition = "2021"\n' > "$ws/tl/Cargo.toml"
echo 'pub fn word() -> &'"'"'static str { "toolchain" }' > "$ws/tl/src/lib.rs"
printf '[package]\nname = "tapp"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\ntl = { path = "../tl" }\n' \
  > "$ws/tapp/Cargo.toml"
echo 'fn main() { println!("{}", tl::word()); }' > "$ws/tapp/src/main.rs"

# built_by DIR: the rustc version in the binary's .comment section.
built_by() {
  local exe=$1/target/debug/tapp
  [[ -x $exe ]] || fail "$exe missing"
  [[ $("$exe") == toolchain ]] || fail "$exe does not run"
  readelf -p .comment "$exe" | grep -o 'rustc version [^ ]*' | head -1 | awk '{print $3}'
}

# The shim cargo is given: it runs the toolchain named in a file. Its own
# path, size and mtime never change. The test's logging shim runs behind it.
choice=$TEST_TMP/choice
mkdir -p "$TEST_TMP/chosen"
write_shim "$TEST_TMP/shim/rustc" "$TEST_TMP/chosen/rustc" rustc
cat > "$TEST_TMP/chosen/rustc" <<SHIM
#!/usr/bin/env bash
exec "\$(cat '$choice')/bin/rustc" "\$@"
SHIM
chmod +x "$TEST_TMP/chosen/rustc"
export RUSTC=$TEST_TMP/shim/rustc
unset RUSTUP_TOOLCHAIN

note "stable behind the shim"
echo "$stable_dir" > "$choice"
kcargo "$ws" build
assert_compiled 'tapp:tapp' "the first build compiles"
assert_eq "$(built_by "$ws")" "$stable_v" "the first build's rustc"

# cargo keeps what `rustc -vV` said in target/.rustc_info.json, valid while
# the shim's mtime holds: its -C metadata does not change with the toolchain,
# so only kache can tell the two compilers apart.
note "nightly behind the same shim, target/debug removed"
echo "$nightly_dir" > "$choice"
rm -rf "$ws/target/debug"
kcargo "$ws" build
assert_compiled_set "tl:tl tapp:tapp" "another toolchain behind the shim compiles again"
assert_eq "$(built_by "$ws")" "$nightly_v" "the binary after switching to nightly"

note "nightly again: hits"
rm -rf "$ws/target/debug"
kcargo "$ws" build
assert_no_real_compiles "same toolchain again"
assert_eq "$(built_by "$ws")" "$nightly_v" "nightly's binary restored"

note "back to stable: stable's entries"
echo "$stable_dir" > "$choice"
rm -rf "$ws/target/debug"
kcargo "$ws" build
assert_no_real_compiles "stable's artifacts are in the store"
assert_eq "$(built_by "$ws")" "$stable_v" "stable's binary restored"
