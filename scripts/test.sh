#!/usr/bin/env bash
# Installs what is needed, builds kache (plus an address/UB-sanitized build for
# the unit tests) and runs every test. Ends with one line:
# "N passed, N failed, N skipped". A test that cannot run on this machine (the
# S3 tests without node) is skipped, never passed; a sanitizer build that does
# not compile is a failure, shown with its compiler errors.
set -uo pipefail
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
if [ ! -f "$asan/build.ninja" ] &&
   ! meson setup "$asan" "$root" -Db_sanitize=address,undefined -Db_lundef=false >"$root/asan-setup.log" 2>&1; then
  tail -30 "$root/asan-setup.log"
  asan_failed=(setup)
else
  for target in unit_core unit_remote unit_daemon; do
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
