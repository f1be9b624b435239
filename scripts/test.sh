#!/usr/bin/env bash
# Installs what is needed, builds kache (plus an address/UB-sanitized build for
# the unit tests) and runs every test. Ends with one line:
# "N passed, N failed, N skipped". A test that cannot run on this machine (the
# S3 tests without node) is skipped, never passed; a sanitizer build that does
# not compile is a failure, shown with its compiler errors.
#
# Wall time (2 cores): the sanitized build is unoptimized (-O0 compiles the Catch2
# tests about 4x faster than -O2, and ASan/UBSan check the same code), and each
# fuzz target runs FUZZ_SECONDS (default here 8; the committed corpora and the
# fixed seed keep it a regression check; FUZZ_SECONDS=20 for the longer search).
set -uo pipefail
export FUZZ_SECONDS=${FUZZ_SECONDS:-8}
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh || { echo "0 passed, 1 failed, 0 skipped"; exit 1; }

build="$root/build"
asan="$root/build-asan"
if ! bash scripts/build.sh "$build"; then
  meson compile -C "$build" 2>&1 | tail -30
  echo "0 passed, 1 failed, 0 skipped"; exit 1
fi
asan_failed=()  # sanitizer targets that did not build
asan_tests=()   # the unit tests of those that did
asan_targets=(unit_core unit_remote unit_daemon)
if [ ! -f "$asan/build.ninja" ] &&
   ! meson setup "$asan" "$root" -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
     >"$root/asan-setup.log" 2>&1; then
  tail -30 "$root/asan-setup.log"
  asan_failed=(setup)
elif meson compile -C "$asan" "${asan_targets[@]}" >"$asan/build-all.log" 2>&1; then
  # One ninja run for the three: no idle core while one target links.
  asan_tests=(unit_core unit_remote unit_remote_s3 unit_daemon)
else
  # Something did not build: target by target, to name which and show its errors.
  for target in "${asan_targets[@]}"; do
    if meson compile -C "$asan" "$target" >"$asan/build-$target.log" 2>&1; then
      asan_tests+=("$target")
      [ "$target" = unit_remote ] && asan_tests+=(unit_remote_s3)
    else
      asan_failed+=("$target")
      echo "asan: the sanitized build of $target failed:"
      { grep -E 'error|undefined reference' "$asan/build-$target.log" || tail -30 "$asan/build-$target.log"; } |
        head -30 | sed 's/^/asan:   /'
    fi
  done
fi

meson test -C "$build" --print-errorlogs --num-processes 2 "$@" >"$build/test-output.txt" 2>&1
grep -E '^ *[0-9]+/[0-9]+ ' "$build/test-output.txt" || true
summarize=("$build")
if [ ${#asan_tests[@]} -gt 0 ]; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C "$asan" --no-rebuild --print-errorlogs "${asan_tests[@]}" >"$asan/test-output.txt" 2>&1
  grep -E '^ *[0-9]+/[0-9]+ ' "$asan/test-output.txt" | sed 's/^/asan: /' || true
  summarize+=("$asan")
fi
if [ ${#asan_failed[@]} -gt 0 ]; then
  summarize+=("--asan-build-failed=$(IFS=,; echo "${asan_failed[*]}")")
fi
python3 scripts/summarize-tests.py "${summarize[@]}"
