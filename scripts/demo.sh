#!/usr/bin/env bash
# kache's main job, end to end on a fresh Debian 12 machine: installs what is
# needed, builds kache, writes a real workspace of Debian-packaged crates, and
# builds it through kache twice — cold (empty cache), then after `cargo clean`
# warm — printing how many crates hit and the two times.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/install-deps.sh
bash scripts/build.sh "$root/build"
kache="$root/build/apps/kache/kache"

work="${KACHE_DEMO_DIR:-$root/build/demo}"
mkdir -p "$work"
bash bench/make-workload.sh "$work/workload" >&2
export KACHE_CACHE_DIR="$work/cache"
export RUSTC_WRAPPER="$kache"
rm -rf "$KACHE_CACHE_DIR"

cd "$work/workload"
cargo clean -q
secs() { python3 -c 'import time; print(f"{time.monotonic():.3f}")'; }

echo "== cold build (empty cache) =="
t0=$(secs); cargo build; t1=$(secs)
cold_json="$("$kache" stats --json)"
"$kache" stats --zero >/dev/null

echo "== cargo clean, then warm build =="
cargo clean -q
t2=$(secs); KACHE_PROGRESS=1 cargo build; t3=$(secs)
warm_json="$("$kache" stats --json)"

python3 - "$t0" "$t1" "$t2" "$t3" "$cold_json" "$warm_json" <<'PY'
import json, sys
t0, t1, t2, t3 = map(float, sys.argv[1:5])
cold, warm = json.loads(sys.argv[5]), json.loads(sys.argv[6])
print()
print(f"cold: {t1 - t0:6.1f} s   {cold['misses']} compiled and stored, {cold['passthroughs']} passed through")
print(f"warm: {t3 - t2:6.1f} s   {warm['hits']} of {warm['hits'] + warm['misses']} crates restored from the cache "
      f"({warm['misses']} compiled), {(t1 - t0) / max(t3 - t2, 1e-3):.1f}x faster")
print(f"store: {cold['store_bytes'] / 1e6:.0f} MB in {cold['entries']} entries at {cold['cache_dir']}")
PY
