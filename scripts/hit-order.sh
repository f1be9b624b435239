#!/usr/bin/env bash
# Writes apps/kache/hit-order.txt: the functions a cache hit runs, most used
# first, for the linker to place side by side (--symbol-ordering-file). A hit
# is dominated by first touches of code pages, so packing what it runs into a
# few pages saves page faults on every hit; the list only moves code, so a
# stale or missing one costs speed, never correctness.
#
#   scripts/hit-order.sh [BUILD_DIR]     (default: build; needs valgrind and cargo)
#
# It builds the chain fixture cold with kache, then again after `cargo clean`
# with every wrapper run under callgrind (hits of each kind: lib, proc-macro,
# build script, binary, and the -vV probes), and keeps every function name seen.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$repo/build}
kache=$(cd "$build" && pwd)/apps/kache/kache
[[ -x $kache ]] || { echo "hit-order: no $kache (build first)" >&2; exit 1; }
command -v valgrind >/dev/null || { echo "hit-order: valgrind is not installed" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/tests/fixtures/chain" "$work/ws"
rm -rf "$work/ws/target"
mkdir -p "$work/cg"
cat > "$work/shim" <<SHIM
#!/usr/bin/env bash
exec valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg/%p.out" "$kache" "\$@" 2>/dev/null
SHIM
chmod +x "$work/shim"
export KACHE_CACHE_DIR=$work/store KACHE_CONFIG=$work/none.toml KACHE_SOCKET_PATH=$work/sock
export KACHE_PREFETCH=0 CARGO_TARGET_DIR=$work/ws/target
build_ws() { # WRAPPER
  (cd "$work/ws" && RUSTC_WRAPPER=$1 cargo build --offline -q) >"$work/cargo.log" 2>&1 ||
    { cat "$work/cargo.log" >&2; exit 1; }
}
build_ws "$kache"
(cd "$work/ws" && cargo clean -q)
build_ws "$work/shim"
"$kache" daemon stop >/dev/null 2>&1 || true
python3 - "$work/cg" "$repo/apps/kache/hit-order.txt" <<'PY'
import collections, glob, re, sys
seen = collections.Counter()
for f in glob.glob(sys.argv[1] + "/*.out"):
    names = set()
    for line in open(f, errors="replace"):
        m = re.match(r"c?fn=\(\d+\) (\S+)", line)
        if m and not m.group(1).startswith(("0x", "(")):
            names.add(m.group(1))
    seen.update(names)
if len(seen) < 100:
    sys.exit("hit-order: too few functions recorded (%d); is valgrind working?" % len(seen))
with open(sys.argv[2], "w") as out:
    for name, _ in sorted(seen.items(), key=lambda kv: (-kv[1], kv[0])):
        out.write(name + "\n")
print("hit-order: %d functions from %d runs" % (len(seen), len(glob.glob(sys.argv[1] + "/*.out"))))
PY
