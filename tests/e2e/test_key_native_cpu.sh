#!/usr/bin/env bash
# -C target-cpu=native is keyed by the CPU rustc resolves it to, not by the
# word "native": a store shared by two machines must not serve one machine's
# binary to the other. One machine cannot change its CPU, so a compiler shim
# reports another CPU for `--print target-cpus` and `--print cfg`.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ws=$TEST_TMP/nc
mkdir -p "$ws/src"
printf '[package]\nname = "nc"\nversion = "0.1.0"\nedition = "2021"\n' > "$ws/Cargo.toml"
echo 'fn main() { println!("nc"); }' > "$ws/src/main.rs"

# cpu_shim NAME FEATURE: the test's rustc shim, answering the CPU queries with
# CPU NAME and one extra target feature.
cpu_shim() {
  write_shim "$TEST_TMP/shim/rustc-real-log" "$REAL_RUSTC" rustc
  cat > "$TEST_TMP/shim/rustc" <<SHIM
#!/usr/bin/env bash
log=$TEST_TMP/shim/queries.log
case " \$* " in
  *" target-cpus "*|*" --print=target-cpus "*)
    echo "target-cpus" >> "\$log"
    "$TEST_TMP/shim/rustc-real-log" "\$@" | sed -E 's/\\(currently [^)]*\\)/(currently $1)/'
    exit "\${PIPESTATUS[0]}" ;;
  *" target-cpu=native --print cfg "*)
    echo "cfg" >> "\$log"
    "$TEST_TMP/shim/rustc-real-log" "\$@" && echo 'target_feature="$2"'
    exit ;;
esac
exec "$TEST_TMP/shim/rustc-real-log" "\$@"
SHIM
  chmod +x "$TEST_TMP/shim/rustc"
}

export RUSTFLAGS="-C target-cpu=native"
: > "$TEST_TMP/shim/queries.log"

note "host A"
cpu_shim kache-cpu-a feat-a
kcargo "$ws" build
assert_compiled 'nc:nc' "the first build compiles"
[[ -s $TEST_TMP/shim/queries.log ]] || fail "kache did not ask the compiler what native means"

note "host A again: a hit, without asking the compiler again"
: > "$TEST_TMP/shim/queries.log"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "same host, same toolchain"
[[ ! -s $TEST_TMP/shim/queries.log ]] || fail "the CPU was resolved again on a hit: $(cat "$TEST_TMP/shim/queries.log")"

note "host B (another CPU behind the same toolchain)"
cpu_shim kache-cpu-b feat-b
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'nc:nc' "another CPU for target-cpu=native"

note "host B again: a hit"
pcargo "$ws" clean
kcargo "$ws" build
assert_no_real_compiles "same host B"

note "-Ctarget-cpu=native (glued) is the same"
export RUSTFLAGS="-Ctarget-cpu=native"
cpu_shim kache-cpu-c feat-c
pcargo "$ws" clean
kcargo "$ws" build
assert_compiled 'nc:nc' "another CPU, glued -Ctarget-cpu=native"

note "without target-cpu=native the CPU is not asked for"
unset RUSTFLAGS
: > "$TEST_TMP/shim/queries.log"
pcargo "$ws" clean
kcargo "$ws" build
[[ ! -s $TEST_TMP/shim/queries.log ]] || fail "the CPU was resolved without target-cpu=native"
