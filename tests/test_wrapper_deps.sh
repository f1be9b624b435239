#!/usr/bin/env bash
# The wrapper's start-up is paid on every cache hit: it must not load libcurl,
# OpenSSL or libuv (DESIGN.md, "Process start-up is part of the hit path").
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
  ldd "$KACHE_BUILD_ROOT/apps/kached/kached" | grep -q libcurl || { echo "FAIL: ldd check cannot see libcurl in kached"; exit 1; }
fi
echo "ok: the wrapper loads only libc/libstdc++"
