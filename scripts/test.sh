#!/usr/bin/env bash
# Installs what is needed, builds kache (plus an address/UB-sanitized build for
# the unit tests) and runs every test. Ends with one line: "N passed, N failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

build="$root/build"
asan="$root/build-asan"
if ! bash scripts/build.sh "$build"; then
  meson compile -C "$build" 2>&1 | tail -30
  echo "0 passed, 1 failed"; exit 1
fi
if [ ! -f "$asan/build.ninja" ]; then
  meson setup "$asan" "$root" -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
asan_ok=1
meson compile -C "$asan" unit_core >/dev/null 2>&1 || asan_ok=0
meson compile -C "$asan" unit_remote >/dev/null 2>&1 || true

meson test -C "$build" --print-errorlogs --num-processes 2 "$@" >"$build/test-output.txt" 2>&1
cat "$build/test-output.txt" | grep -E '^ *[0-9]+/[0-9]+ ' || true
if [ $asan_ok -eq 1 ]; then
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
    meson test -C "$asan" --suite unit --print-errorlogs >"$asan/test-output.txt" 2>&1
  grep -E '^ *[0-9]+/[0-9]+ ' "$asan/test-output.txt" | sed 's/^/asan: /' || true
fi
python3 scripts/summarize-tests.py "$build" $( [ $asan_ok -eq 1 ] && echo "$asan" ) $( [ $asan_ok -eq 0 ] && echo --asan-build-failed )
