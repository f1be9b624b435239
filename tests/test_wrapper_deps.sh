#!/usr/bin/env bash
# The wrapper's start-up is paid on every cache hit: it must not load libcurl,
# OpenSSL or libuv (DESIGN.md, "Process start-up is part of the hit path"), and it is
# linked statically, so the loader searches no directory at start-up.
set -euo pipefail
exe="$KACHE_BUILD_ROOT/apps/kache/kache"
[ -x "$exe" ] || { echo "no wrapper at $exe"; exit 1; }
libs="$(ldd "$exe")"
echo "$libs"
if echo "$libs" | grep -E 'libcurl|libssl|libcrypto|libuv|libzstd|libsimdjson|libpugixml'; then
  echo "FAIL: the wrapper links a library that belongs to the remote/daemon side"
  exit 1
fi
# And the check itself can see such a library: kached (when built) must show libcurl.
if [ -x "$KACHE_BUILD_ROOT/apps/kached/kached" ]; then
  # Captured first: `ldd | grep -q` under pipefail fails when grep stops reading early.
  kached_libs="$(ldd "$KACHE_BUILD_ROOT/apps/kached/kached")"
  grep -q libcurl <<<"$kached_libs" || { echo "FAIL: ldd check cannot see libcurl in kached"; exit 1; }
fi
# It loads nothing at all: cargo's LD_LIBRARY_PATH would make the loader search
# several directories for every shared library, on every hit.
if [ "${KACHE_SANITIZED:-0}" != 1 ]; then
  grep -qE 'statically linked|not a dynamic executable' <<<"$libs" ||
    { echo "FAIL: the wrapper is not statically linked"; exit 1; }
  if grep -q curl_easy_init < <(strings -a "$exe"); then
    echo "FAIL: the wrapper carries libcurl code"; exit 1
  fi
fi
echo "ok: the wrapper is static and carries no remote/daemon library"
