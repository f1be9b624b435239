#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/fuzz_*.cpp) with clang, ASan and UBSan
# in a meson build dir of their own, and runs each for FUZZ_SECONDS (default 20) from seed FUZZ_SEED (default 1)
# on a copy of its committed corpus (tests/fuzz/corpus/<target>/).
#   tests/fuzz/run.sh [BUILD_DIR] [TARGET...]
# Exit: 0 all clean; 1 a target crashed, leaked or failed to build (the input is
# kept as BUILD_DIR/crashes/<target>-*); 77 (skip) without a usable clang and libFuzzer.
# KACHE_FUZZ_CXX names the compiler to use; otherwise the first of clang++-16..19, clang++
# that compiles libstdc++'s std::expected with -fsanitize=fuzzer is taken.
set -uo pipefail
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$src/build-fuzz}
shift || true
seconds=${FUZZ_SECONDS:-20}
all_targets=(fuzz_entry fuzz_manifest fuzz_manifest_object fuzz_dep_info fuzz_link_args fuzz_pack fuzz_ipc fuzz_config fuzz_json fuzz_why fuzz_event fuzz_credentials fuzz_credential_reply fuzz_access fuzz_cargo_lock fuzz_set_memo)
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=("${all_targets[@]}")

skip() { echo "fuzz: skipped: $*"; exit 77; }
command -v meson >/dev/null || skip "meson is not installed"

# The same flags the fuzz build adds (top meson.build), on a one-line fuzz target.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/p.cpp" <<'CPP'
#include <cstddef>
#include <cstdint>
#include <expected>
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t n) {
    std::expected<std::size_t, int> e = n;
    return *e > 0 ? 0 : 0;
}
CPP
cxx=""
for c in ${KACHE_FUZZ_CXX:-} clang++-16 clang++-17 clang++-18 clang++-19 clang++; do
  command -v "$c" >/dev/null || continue
  if "$c" -std=c++2b -Wno-builtin-macro-redefined -U__cpp_concepts -D__cpp_concepts=202002L \
      -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >"$probe/log" 2>&1; then
    cxx=$c
    break
  fi
done
[ -n "$cxx" ] || skip "no clang++ with libFuzzer that compiles std::expected (install clang-16 libclang-rt-16-dev)"

if [ ! -f "$build/build.ninja" ]; then
  launcher=$cxx
  command -v ccache >/dev/null && launcher="ccache $cxx"
  # -O1 with line tables only, as OSS-Fuzz builds: a third less compile time than -O2 -g,
  # and crash reports still name file and line.
  if ! CXX=$launcher meson setup "$build" "$src" -Dfuzz=true -Dtests=false -Db_lundef=false \
      -Doptimization=1 -Ddebug=false -Dcpp_args=-gline-tables-only \
      >"$probe/setup.log" 2>&1; then
    tail -30 "$probe/setup.log"
    echo "fuzz: meson setup of $build failed"
    exit 1
  fi
fi
# Niced: in CI this build shares the machine with an end-to-end test, whose timing
# checks should not pay for it.
if ! nice meson compile -C "$build" "${targets[@]}" >"$build/compile.log" 2>&1; then
  grep -E 'error' "$build/compile.log" | head -30 || tail -30 "$build/compile.log"
  echo "fuzz: building the targets failed"
  exit 1
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/crashes"
failed=()
for t in "${targets[@]}"; do
  seeds=$src/tests/fuzz/corpus/$t
  work=$build/corpus/$t # new inputs go here, the committed corpus stays as it is
  mkdir -p "$work"
  log=$build/$t.log
  rc=0
  # A fixed seed by default: CI repeats the search that was checked before a change
  # landed, so a red run means the change, not luck (FUZZ_SEED=0 explores anew).
  "$build/tests/fuzz/$t" -seed="${FUZZ_SEED:-1}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/crashes/$t-" "$work" "$seeds" >"$log" 2>&1 || rc=$?
  runs=$(grep -oE 'Done [0-9]+ runs' "$log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1)
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); log $log"
    grep -E 'ERROR|SUMMARY|violated|runtime error|Test unit written' "$log" | head -20 | sed 's/^/fuzz:   /'
  else
    echo "fuzz: $t ok (${runs:-no runs}, ${cov:-cov ?}, ${seconds}s)"
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#targets[@]} targets failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets clean"
