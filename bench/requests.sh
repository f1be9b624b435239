#!/usr/bin/env bash
# bench/requests.sh: what a build costs in S3 requests, counted by the loopback S3 server
# (tests/s3, --request-log), for docs/scale.md. Builds the workload as CI runners would:
#
#   fill          runner A: empty store, daemon, cold `cargo build` (every unit compiles and uploads)
#   remote-warm   runner B: empty store, daemon, the same sources at another path
#   edit          runner B: one line appended to a workspace member, `cargo build`
#   new-session   runner B: `cargo clean`, a new build session (prefetch lists again), warm store
#   sync-pull     runner C: `kache sync --pull` into an empty store
#   sync-push     runner A: `kache sync --push` again (everything already there)
#
# Usage: bench/requests.sh --workload DIR [--out DIR]
# Prints a markdown table (requests per operation per phase, bytes in and out) and writes
# OUT/requests.json. Environment: KACHE_BUILD_ROOT (default <repo>/build).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
workload="" out=""
die() { echo "requests: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workload) workload="${2:?--workload needs a directory}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ -n "$workload" && -f "$workload/Cargo.toml" ]] || die "--workload DIR (made by bench/make-workload.sh) is required"
build_root="$(cd "${KACHE_BUILD_ROOT:-$repo/build}" && pwd)" || die "no build directory"
kache_bin="$build_root/apps/kache/kache"
[[ -x "$kache_bin" && -x "$build_root/apps/kached/kached" ]] || die "build kache and kached first"
out="${out:-$build_root/requests}"
rm -rf "$out" && mkdir -p "$out"
out="$(cd "$out" && pwd)"
log() { echo "[requests $(date +%H:%M:%S)] $*" >&2; }

reqlog="$out/requests.log"
eval "$(bash "$repo/tests/s3/start-s3-server.sh" --prefix "$build_root/s3-server" --data "$out/s3" \
          --bucket kache-scale --pidfile "$out/s3.pid" --log "$out/s3-server.log" --request-log "$reqlog")"
trap 'bash "$repo/tests/s3/stop-s3-server.sh" "$out/s3.pid" >/dev/null 2>&1 || true' EXIT
remote=("KACHE_S3_BUCKET=$S3_BUCKET" "KACHE_S3_ENDPOINT=$S3_ENDPOINT" "KACHE_S3_REGION=$S3_REGION"
        "KACHE_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID" "KACHE_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY" "KACHE_S3_PREFIX=ci")

runner() { # NAME -> the environment of that runner (its own store and socket)
  printf '%s\n' "RUSTC_WRAPPER=$kache_bin" "KACHE_CACHE_DIR=$out/$1/store" "KACHE_SOCKET_PATH=$out/$1/d.sock" \
    "PATH=$build_root/apps/kached:$PATH" "${remote[@]}"
}
in_runner() { # NAME DIR CMD...
  local name="$1" dir="$2"; shift 2
  local envs; mapfile -t envs < <(runner "$name")
  (cd "$dir" && env "${envs[@]}" "$@")
}
settle() { # NAME: wait for the runner's upload queue to drain, then stop its daemon (flushes)
  local name="$1" n i
  for i in $(seq 600); do
    n=$(in_runner "$name" "$out" "$kache_bin" daemon status --json 2>/dev/null |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(int(m.get("pending_uploads",0))+int(m.get("uploads_in_flight",0)))' 2>/dev/null) || n=0
    [[ "$n" == 0 ]] && break
    sleep 1
  done
  in_runner "$name" "$out" "$kache_bin" daemon stop >/dev/null 2>&1 || true
}
mark() { wc -l <"$reqlog" 2>/dev/null || echo 0; }
phases=()
phase_end() { # NAME START_LINE
  tail -n +"$(($2 + 1))" "$reqlog" >"$out/phase-$1.jsonl"
  phases+=("$1")
  log "$1: $(wc -l <"$out/phase-$1.jsonl") requests"
}

for r in a b c; do mkdir -p -m 700 "$out/$r"; done
copy_src() { mkdir -p "$2" && tar -C "$1" --exclude=./target -cf - . | tar -C "$2" -xf -; }
copy_src "$workload" "$out/a/src"
copy_src "$workload" "$out/b/src"

log "fill: runner A builds cold and uploads"
s=$(mark); in_runner a "$out" "$kache_bin" daemon start >/dev/null
in_runner a "$out/a/src" cargo build -q; settle a; phase_end fill "$s"

log "remote-warm: runner B, empty store, another path"
s=$(mark); in_runner b "$out" "$kache_bin" daemon start >/dev/null
in_runner b "$out/b/src" cargo build -q; settle b; phase_end remote-warm "$s"

log "edit: runner B appends a line to kw-core"
echo "pub fn kache_scale_edit() -> u32 { 1 }" >>"$out/b/src/crates/kw-core/src/lib.rs"
s=$(mark); in_runner b "$out" "$kache_bin" daemon start >/dev/null
in_runner b "$out/b/src" cargo build -q; settle b; phase_end edit "$s"

log "new-session: runner B, cargo clean, warm store, a new session"
rm -f "$out/b/store/session"
(cd "$out/b/src" && cargo clean -q)
s=$(mark); in_runner b "$out" "$kache_bin" daemon start >/dev/null
in_runner b "$out/b/src" cargo build -q; settle b; phase_end new-session "$s"

log "sync-pull: runner C, kache sync --pull into an empty store"
s=$(mark); in_runner c "$out/a/src" "$kache_bin" sync --pull >/dev/null 2>&1 || true; phase_end sync-pull "$s"

log "sync-push: runner A pushes again (everything is there)"
s=$(mark); in_runner a "$out/a/src" "$kache_bin" sync --push >/dev/null 2>&1 || true; phase_end sync-push "$s"

python3 - "$out" "${phases[@]}" <<'EOF'
import collections, json, sys
out, phases = sys.argv[1], sys.argv[2:]
ops = ["ListObjectsV2", "HeadObject", "GetObject", "PutObject", "DeleteObject", "Other"]
res = {}
for p in phases:
    c = collections.Counter(); bin_ = bout = 0; lists = collections.Counter()
    for line in open(f"{out}/phase-{p}.jsonl"):
        r = json.loads(line)
        op = r["op"] if r["op"] in ops else "Other"
        c[op] += 1; bin_ += r["in"]; bout += r["out"]
        if op == "ListObjectsV2": lists[r["prefix"].count("/")] += 1
    res[p] = {"requests": dict(c), "bytes_in": bin_, "bytes_out": bout, "total": sum(c.values())}
json.dump(res, open(f"{out}/requests.json", "w"), indent=1)
print("| phase | " + " | ".join(ops) + " | total | MB up | MB down |")
print("|---" * (len(ops) + 4) + "|")
for p in phases:
    r = res[p]
    print(f"| {p} | " + " | ".join(str(r['requests'].get(o, 0)) for o in ops) +
          f" | {r['total']} | {r['bytes_in'] / 1e6:.1f} | {r['bytes_out'] / 1e6:.1f} |")
EOF
