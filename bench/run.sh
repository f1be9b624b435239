#!/usr/bin/env bash
# bench/run.sh: the kache benchmark. One command; prints one markdown table and
# writes OUT/results.json and OUT/results.md.
#
# Configurations (each timed REPS times, interleaved within a repetition):
#   nocache-cold      `cargo clean && cargo build`, no wrapper
#   nocache-noop      a second `cargo build` with nothing to do
#   floor             `cargo clean && cargo build` through bench/floor-shim.c (compiled here,
#                     static) replaying outputs recorded once before the repetitions: argv hash only
#   kache-cold        empty store
#   kache-warm        `cargo clean`, then build with the store kache-cold filled
#   kache-relocated   the same sources copied to another path (own target dir), same store
#   kache-remote-warm     empty local store, S3 remote (tests/s3 server) filled once before the
#                         repetitions from the workload, built at another path, daemon running;
#                         only when apps/kached/kached is built
#   kache-remote-warm-fs  the same with a shared-directory remote (KACHE_REMOTE_DIR)
#   edit-member-nocache / edit-member-kache
#                     the edit loop: a copy of the workload with a generated ~50k-line member
#                     (bench/make-big-member.py), built once untimed; then append a line to the
#                     member and `cargo build`, without a wrapper and with kache
#   edit-leaf-nocache / edit-leaf-kache   the same, appending to the leaf binary's main.rs
#   sccache-cold      Debian's sccache, local disk cache, fresh server and empty cache dir
#   sccache-warm      `cargo clean`, then build with the cache sccache-cold filled
#
# Usage: bench/run.sh [--reps N] [--release] [--smoke] [--out DIR] [--workload DIR]
#                     [--package P] [--no-sccache] [--no-floor] [--no-remote] [--no-edit]
#   --reps N        repetitions per configuration (default 3)
#   --release       build with `cargo build --release` (default: the debug profile)
#   --smoke         1 repetition on the kw-core slice of the workload (`-p kw-core`),
#                   1 to 2 minutes on 2 cores: keeps the harness working, numbers are not the point
#   --out DIR       results and scratch space (default: $KACHE_BUILD_ROOT/bench)
#   --workload DIR  use this workload (made by bench/make-workload.sh) instead of
#                   generating OUT/workload
#   --package P     build only this workspace member (`cargo build -p P`)
#   --no-sccache, --no-floor, --no-remote, --no-edit   skip those rows (they print "skipped")
# Environment: KACHE_BUILD_ROOT (default <repo>/build), KACHE_BIN (default
# $KACHE_BUILD_ROOT/apps/kache/kache), SCCACHE_BIN (default sccache).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"

reps=3 release=0 smoke=0 out="" workload="" package="" reps_set=0
do_sccache=1 do_floor=1 do_remote=1 do_edit=1
die() { echo "bench: $*" >&2; exit 1; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) reps="${2:?--reps needs a number}"; reps_set=1; shift 2 ;;
    --release) release=1; shift ;;
    --smoke) smoke=1; shift ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --workload) workload="${2:?--workload needs a directory}"; shift 2 ;;
    --package) package="${2:?--package needs a crate name}"; shift 2 ;;
    --no-sccache) do_sccache=0; shift ;;
    --no-floor) do_floor=0; shift ;;
    --no-remote) do_remote=0; shift ;;
    --no-edit) do_edit=0; shift ;;
    -h|--help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || die "--reps must be a positive number"
if [[ $smoke == 1 ]]; then
  [[ $reps_set == 1 ]] || reps=1
  [[ -n "$package" ]] || package=kw-core
fi

build_root="${KACHE_BUILD_ROOT:-$repo/build}"
build_root="$(cd "$build_root" 2>/dev/null && pwd)" || die "no build directory $build_root (meson setup build)"
kache_bin="${KACHE_BIN:-$build_root/apps/kache/kache}"
kached_bin="$build_root/apps/kached/kached"
sccache_bin="${SCCACHE_BIN:-sccache}"
[[ -x "$kache_bin" ]] || die "no kache binary at $kache_bin (meson compile -C $build_root kache)"
command -v cargo >/dev/null || die "cargo is not installed"
command -v python3 >/dev/null || die "python3 is not installed"

out="${out:-$build_root/bench}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$out/work"          # scratch: stores, caches, the relocated copy
raw="$out/raw"            # per-build logs, kache events, stats snapshots
rm -rf "$work" "$raw"
mkdir -p "$work" "$raw/logs" "$raw/events" "$raw/stats"
rows="$raw/rows.tsv"

# Snapshot the binaries under test: the build directory may be rebuilt while this runs.
mkdir -p "$work/bin"
cp "$kache_bin" "$work/bin/kache"
kache_bin="$work/bin/kache"
if [[ -x "$kached_bin" ]]; then cp "$kached_bin" "$work/bin/kached"; kached_bin="$work/bin/kached"; fi
# The floor's replay shim, compiled static so its own start-up is an exec and little more.
shim="$work/bin/floor-shim"
if [[ $do_floor == 1 ]]; then
  cc -O2 -static -o "$shim" "$here/floor-shim.c" 2>/dev/null || cc -O2 -o "$shim" "$here/floor-shim.c" ||
    die "cannot compile bench/floor-shim.c (a C compiler is needed; or --no-floor)"
fi
printf 'config\trep\tseconds\n' >"$rows"

log() { echo "[bench $(date +%T)] $*" >&2; }

# ------------------------------------------------------------------ environment
# Nothing from the caller's shell may steer cargo, rustc or the caches.
unset RUSTC_WRAPPER CARGO_BUILD_RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER \
  RUSTFLAGS CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS CARGO_INCREMENTAL CARGO_TARGET_DIR \
  CARGO_BUILD_TARGET_DIR CARGO_BUILD_JOBS RUSTC RUSTC_BOOTSTRAP FLOOR_MODE FLOOR_STASH \
  AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN || true
for v in $(compgen -e); do
  case "$v" in KACHE_*|SCCACHE_*) unset "$v" ;; esac
done
export CARGO_TERM_COLOR=never CARGO_TERM_PROGRESS_WHEN=never
: >"$work/kache-config.toml"
export KACHE_CONFIG="$work/kache-config.toml"     # an empty config: defaults only
sockdir="$(mktemp -d "${TMPDIR:-/tmp}/kache-bench-sock.XXXXXX")"  # short paths for Unix sockets

# sccache: our own server on a free port, so no other sccache on the machine is touched.
if [[ $do_sccache == 1 ]] && ! command -v "$sccache_bin" >/dev/null; then
  log "no sccache ($sccache_bin): its rows are skipped"
  do_sccache=2
fi
if [[ $do_sccache == 1 ]]; then
  SCCACHE_SERVER_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  export SCCACHE_SERVER_PORT SCCACHE_IDLE_TIMEOUT=0 SCCACHE_CACHE_SIZE=20G SCCACHE_DIR="$work/sccache"
fi

# ------------------------------------------------------------------ cleanup
s3_pidfile=""
daemon_dirs=()
cleanup() {
  local d
  for d in ${daemon_dirs[@]+"${daemon_dirs[@]}"}; do
    KACHE_CACHE_DIR="$d" KACHE_SOCKET_PATH="$sockdir/$(basename "$d").sock" "$kache_bin" daemon stop >/dev/null 2>&1 || true
  done
  if [[ $do_sccache == 1 ]]; then "$sccache_bin" --stop-server >/dev/null 2>&1 || true; fi
  if [[ -n "$s3_pidfile" ]]; then bash "$repo/tests/s3/stop-s3-server.sh" "$s3_pidfile" >/dev/null 2>&1 || true; fi
  cp "$sockdir"/*.log "$raw/logs/" 2>/dev/null || true     # the daemon's log sits beside its socket
  rm -rf "$sockdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ workload
if [[ -n "$workload" ]]; then
  wl="$(cd "$workload" 2>/dev/null && pwd)" || die "no workload at $workload"
else
  wl="$out/workload"
  log "generating the workload in $wl"
  bash "$here/make-workload.sh" "$wl" >&2
fi
[[ -f "$wl/Cargo.toml" && -f "$wl/.cargo/config.toml" ]] || die "$wl is not a workload made by make-workload.sh"

reloc="$work/elsewhere/checkout"       # "the same sources at another path"
mkdir -p "$reloc"
(cd "$wl" && tar --exclude=./target -cf - .) | (cd "$reloc" && tar -xf -)

cargo_args=(build --offline)
[[ $release == 1 ]] && cargo_args+=(--release)
[[ -n "$package" ]] && cargo_args+=(-p "$package")
profile=debug
[[ $release == 1 ]] && profile=release

# ------------------------------------------------------------------ building blocks
# timed DIR CONFIG REP [VAR=VALUE...]: one `cargo build` in DIR with the extra environment;
# appends a row with its wall time. A failed build stops the benchmark.
timed() {
  local dir="$1" cfg="$2" rep="$3"; shift 3
  local logf="$raw/logs/$cfg-rep$rep.log" t0 t1 secs
  t0=$EPOCHREALTIME
  if ! (cd "$dir" && env "$@" cargo "${cargo_args[@]}") >"$logf" 2>&1; then
    tail -n 30 "$logf" >&2
    die "$cfg (repetition $rep): cargo build failed; log in $logf"
  fi
  t1=$EPOCHREALTIME
  secs="$(python3 -c "print(f'{$t1 - $t0:.3f}')")"
  printf '%s\t%s\t%s\n' "$cfg" "$rep" "$secs" >>"$rows"
  log "$cfg #$rep: ${secs} s"
}

clean() { (cd "$1" && cargo clean -q 2>/dev/null) || rm -rf "$1/target"; }

# collect CACHE_DIR CONFIG REP: keep this build's kache events and stats apart, so the
# next build of the same store starts with an empty event log.
collect() {
  local cache="$1" cfg="$2" rep="$3"
  KACHE_CACHE_DIR="$cache" "$kache_bin" stats --json >"$raw/stats/$cfg-rep$rep.json" 2>/dev/null || true
  if [[ -d "$cache/events" ]]; then
    mv "$cache/events" "$raw/events/$cfg-rep$rep"
  else
    mkdir -p "$raw/events/$cfg-rep$rep"
  fi
}

kache_env() { # CACHE_DIR -> VAR=VALUE lines for `timed`
  printf '%s\n' "RUSTC_WRAPPER=$kache_bin" "KACHE_CACHE_DIR=$1" "KACHE_SOCKET_PATH=$sockdir/$(basename "$1").sock"
}

# ------------------------------------------------------------------ configuration groups
group_nocache() {
  local rep="$1"
  clean "$wl"
  timed "$wl" nocache-cold "$rep"
  timed "$wl" nocache-noop "$rep"
}

group_floor() {
  local rep="$1"
  clean "$wl"
  timed "$wl" floor "$rep" "RUSTC_WRAPPER=$shim" FLOOR_MODE=replay "FLOOR_STASH=$work/floor-stash" \
    "FLOOR_TIMES=$raw/events/floor-rep$rep.times"
}

group_kache() {
  local rep="$1" cache="$work/kache-rep$rep" env_lines
  rm -rf "$cache"
  mapfile -t env_lines < <(kache_env "$cache")
  clean "$wl"
  timed "$wl" kache-cold "$rep" "${env_lines[@]}"
  collect "$cache" kache-cold "$rep"
  clean "$wl"
  timed "$wl" kache-warm "$rep" "${env_lines[@]}"
  collect "$cache" kache-warm "$rep"
  rm -rf "$reloc/target"
  timed "$reloc" kache-relocated "$rep" "${env_lines[@]}"
  collect "$cache" kache-relocated "$rep"
  du -sk "$cache" 2>/dev/null | awk '{print $1}' >"$raw/stats/kache-store-kb-rep$rep" || true
  rm -rf "$cache" "$reloc/target"
}

group_sccache() {
  local rep="$1"
  "$sccache_bin" --stop-server >/dev/null 2>&1 || true
  rm -rf "$SCCACHE_DIR"
  mkdir -p "$SCCACHE_DIR"
  "$sccache_bin" --start-server >/dev/null 2>&1 || die "sccache --start-server failed"
  clean "$wl"
  timed "$wl" sccache-cold "$rep" "RUSTC_WRAPPER=$sccache_bin"
  "$sccache_bin" --show-stats --stats-format=json >"$raw/stats/sccache-cold-rep$rep.json" 2>/dev/null || true
  "$sccache_bin" --zero-stats >/dev/null 2>&1 || true
  clean "$wl"
  timed "$wl" sccache-warm "$rep" "RUSTC_WRAPPER=$sccache_bin"
  "$sccache_bin" --show-stats --stats-format=json >"$raw/stats/sccache-warm-rep$rep.json" 2>/dev/null || true
  du -sk "$SCCACHE_DIR" 2>/dev/null | awk '{print $1}' >"$raw/stats/sccache-dir-kb-rep$rep" || true
  "$sccache_bin" --stop-server >/dev/null 2>&1 || true
}

# The remote in use: KACHE_* variables for the loopback S3 server or the shared directory
# (remote_env is set from remote_env_s3 or remote_env_fs before each remote build).
remote_env=() remote_env_s3=() remote_env_fs=()
kache_daemon() { # start|stop CACHE_DIR
  local sock="$sockdir/$(basename "$2").sock"
  env "KACHE_CACHE_DIR=$2" "KACHE_SOCKET_PATH=$sock" "${remote_env[@]}" "PATH=$(dirname "$kached_bin"):$PATH" \
    "$kache_bin" daemon "$1" >>"$raw/logs/daemon.log" 2>&1
}

pending_uploads() { # CACHE_DIR -> uploads queued or in flight, from `kache daemon status --json`
  local json # the status exits 3 when no daemon runs, with the same JSON
  json=$(env "KACHE_CACHE_DIR=$1" "KACHE_SOCKET_PATH=$sockdir/$(basename "$1").sock" "${remote_env[@]}" \
    "$kache_bin" daemon status --json 2>/dev/null) || true
  python3 -c 'import json,sys; m=json.load(sys.stdin); print(int(m.get("pending_uploads",0))+int(m.get("uploads_in_flight",0)))' \
    <<<"$json" 2>/dev/null || echo 0
}

wait_upload_queue() { # CACHE_DIR: until the daemon has uploaded everything (at most 10 min)
  local deadline=$((SECONDS + 600)) n
  while n="$(pending_uploads "$1")" && [[ "$n" != 0 ]]; do
    [[ $SECONDS -lt $deadline ]] || { log "$n uploads still pending after 10 min; going on"; return 0; }
    sleep 1
  done
  env "KACHE_CACHE_DIR=$1" "KACHE_SOCKET_PATH=$sockdir/$(basename "$1").sock" "${remote_env[@]}" \
    "$kache_bin" daemon status --json >"$raw/stats/$2-daemon.json" 2>/dev/null || true
}

# remote_fill CONFIG: fill the remote in remote_env once, by a cold build of the workload
# with the daemon uploading. Returns non-zero when the daemon does not start.
remote_fill() {
  local cfg="$1" cache="$work/$1" env_lines
  rm -rf "$cache"
  daemon_dirs+=("$cache")
  if ! kache_daemon start "$cache"; then
    log "kache daemon start failed (see $raw/logs/daemon.log)"
    return 1
  fi
  mapfile -t env_lines < <(kache_env "$cache")
  clean "$wl"
  timed "$wl" "$cfg" 0 "${env_lines[@]}" "${remote_env[@]}"
  wait_upload_queue "$cache" "$cfg"
  kache_daemon stop "$cache" || true
  collect "$cache" "$cfg" 0
  rm -rf "$cache"
}

remote_setup() {
  local s3_script="$repo/tests/s3/start-s3-server.sh" envs
  [[ -f "$s3_script" ]] || { remote_failure="no tests/s3/start-s3-server.sh"; return 1; }
  log "starting the loopback S3 server"
  envs="$(bash "$s3_script" --prefix "$build_root/s3-server" --data "$work/s3" --bucket kache-bench \
            --pidfile "$work/s3-server.pid" --log "$raw/logs/s3-server.log")" ||
    { remote_failure="the S3 server did not start"; return 1; }
  eval "$envs"
  s3_pidfile="$S3_SERVER_PIDFILE"
  remote_env_s3=("KACHE_S3_BUCKET=$S3_BUCKET" "KACHE_S3_ENDPOINT=$S3_ENDPOINT" "KACHE_S3_REGION=$S3_REGION"
                 "KACHE_S3_ACCESS_KEY=$AWS_ACCESS_KEY_ID" "KACHE_S3_SECRET_KEY=$AWS_SECRET_ACCESS_KEY"
                 "KACHE_S3_PREFIX=bench")
  remote_env=("${remote_env_s3[@]}")
  if ! remote_fill kache-remote-fill; then
    bash "$repo/tests/s3/stop-s3-server.sh" "$s3_pidfile" >/dev/null 2>&1 || true
    s3_pidfile=""
    remote_failure="kache daemon start failed"
    return 1
  fi
}

remote_fs_setup() {
  mkdir -p -m 700 "$work/remote-dir"
  remote_env_fs=("KACHE_REMOTE_DIR=$work/remote-dir")
  remote_env=("${remote_env_fs[@]}")
  remote_fill kache-remote-fill-fs || { remote_fs_failure="kache daemon start failed"; return 1; }
}

# remote_warm CONFIG REP: an empty local store, the daemon running on the remote in
# remote_env, the workload built at another path than the one that filled the remote.
remote_warm() {
  local cfg="$1" rep="$2" cache="$work/$1-rep$2" env_lines
  rm -rf "$cache" "$reloc/target"
  daemon_dirs+=("$cache")
  kache_daemon start "$cache" || die "kache daemon start failed (see $raw/logs/daemon.log)"
  mapfile -t env_lines < <(kache_env "$cache")
  timed "$reloc" "$cfg" "$rep" "${env_lines[@]}" "${remote_env[@]}"
  env "KACHE_CACHE_DIR=$cache" "KACHE_SOCKET_PATH=$sockdir/$(basename "$cache").sock" "${remote_env[@]}" \
    "$kache_bin" daemon status --json >"$raw/stats/$cfg-rep$rep-daemon.json" 2>/dev/null || true
  kache_daemon stop "$cache" || true
  collect "$cache" "$cfg" "$rep"
  rm -rf "$cache" "$reloc/target"
}
group_remote() { remote_env=("${remote_env_s3[@]}"); remote_warm kache-remote-warm "$1"; }
group_remotefs() { remote_env=("${remote_env_fs[@]}"); remote_warm kache-remote-warm-fs "$1"; }

# ------------------------------------------------------------------ the edit loop
# Two copies of the workload with the big member (one per configuration: cargo's
# fingerprints differ with the wrapper), each built once untimed; then every repetition
# appends a line to the member and to the leaf, building after each.
edit_root="$work/edit"
edit_pkg="${package:-kw-app}"
edit_args=(build --offline)
[[ $release == 1 ]] && edit_args+=(--release)
[[ -n "$package" ]] && edit_args+=(-p "$package" -p kw-big)
edit_leaf_src() { # the leaf's source file in checkout $1
  if [[ -f "$1/crates/$edit_pkg/src/main.rs" ]]; then echo "$1/crates/$edit_pkg/src/main.rs"; else echo "$1/crates/$edit_pkg/src/lib.rs"; fi
}
edit_env() { # CONFIG -> VAR=VALUE lines for the builds of that configuration
  if [[ $1 == kache ]]; then kache_env "$edit_root/kache/store"; fi
  printf '%s\n' "CARGO_TERM_COLOR=never"
}
edit_setup() {
  local c dir env_lines lines=50000
  [[ $smoke == 1 ]] && lines=5000
  for c in nocache kache; do
    dir="$edit_root/$c/ws"
    mkdir -p "$dir"
    (cd "$wl" && tar --exclude=./target -cf - .) | (cd "$dir" && tar -xf -)
    python3 "$here/make-big-member.py" "$dir" "$lines" || die "bench/make-big-member.py failed"
    mapfile -t env_lines < <(edit_env "$c")
    log "edit loop ($c): first build of the checkout with the big member (untimed)"
    (cd "$dir" && env "${env_lines[@]}" cargo "${edit_args[@]}") >"$raw/logs/edit-setup-$c.log" 2>&1 ||
      { tail -n 30 "$raw/logs/edit-setup-$c.log" >&2; die "the edit loop's first build ($c) failed"; }
    if [[ $c == kache ]]; then collect "$edit_root/kache/store" edit-setup-kache 0; fi
  done
}
edit_seq=0
group_edit() {
  local rep="$1" c dir env_lines saved
  saved=("${cargo_args[@]}")
  cargo_args=("${edit_args[@]}")
  for c in nocache kache; do
    dir="$edit_root/$c/ws"
    mapfile -t env_lines < <(edit_env "$c")
    edit_seq=$((edit_seq + 1))
    printf 'pub const _: u32 = %d;\n' "$edit_seq" >>"$dir/crates/kw-big/src/m00.rs"
    timed "$dir" "edit-member-$c" "$rep" "${env_lines[@]}"
    if [[ $c == kache ]]; then collect "$edit_root/kache/store" "edit-member-$c" "$rep"; fi
    printf 'const _: u32 = %d;\n' "$edit_seq" >>"$(edit_leaf_src "$dir")"
    timed "$dir" "edit-leaf-$c" "$rep" "${env_lines[@]}"
    if [[ $c == kache ]]; then collect "$edit_root/kache/store" "edit-leaf-$c" "$rep"; fi
  done
  cargo_args=("${saved[@]}")
}

# ------------------------------------------------------------------ plan
skipped=()   # config=why
groups=(nocache kache)
if [[ $do_floor == 1 ]]; then groups+=(floor); else skipped+=("floor=skipped (--no-floor)"); fi
case $do_sccache in
  1) groups+=(sccache) ;;
  0) skipped+=("sccache-cold=skipped (--no-sccache)" "sccache-warm=skipped (--no-sccache)") ;;
  2) skipped+=("sccache-cold=n/a (sccache not installed)" "sccache-warm=n/a (sccache not installed)") ;;
esac
if [[ $do_remote == 0 ]]; then
  skipped+=("kache-remote-warm=skipped (--no-remote)" "kache-remote-warm-fs=skipped (--no-remote)")
elif [[ ! -x "$kached_bin" ]]; then
  skipped+=("kache-remote-warm=n/a (daemon not built)" "kache-remote-warm-fs=n/a (daemon not built)")
  do_remote=0
fi
if [[ $do_edit == 0 ]]; then
  for c in edit-member-nocache edit-member-kache edit-leaf-nocache edit-leaf-kache; do skipped+=("$c=skipped (--no-edit)"); done
fi

# ------------------------------------------------------------------ metadata
meta="$raw/meta.json"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
t_start=$SECONDS
log "out: $out; workload: $wl; profile: $profile; reps: $reps${package:+; package: $package}"

# One untimed build first warms the page cache and the toolchain, so that the first timed
# build is not penalised: the floor's recording build when the floor is measured.
if [[ $do_floor == 0 ]]; then
  log "untimed warm-up build"
  clean "$wl"
  (cd "$wl" && cargo "${cargo_args[@]}") >"$raw/logs/warm-up.log" 2>&1 ||
    { tail -n 30 "$raw/logs/warm-up.log" >&2; die "the warm-up build failed"; }
else
  log "recording the floor's outputs (untimed)"
  mkdir -p "$work/floor-stash"
  clean "$wl"
  timed "$wl" floor-record 0 "RUSTC_WRAPPER=$shim" FLOOR_MODE=record "FLOOR_STASH=$work/floor-stash"
fi

if [[ $do_remote == 1 ]]; then
  if remote_setup; then
    groups+=(remote)
  else
    skipped+=("kache-remote-warm=n/a (${remote_failure:-remote setup failed}; see raw/logs/)")
  fi
  if remote_fs_setup; then
    groups+=(remotefs)
  else
    skipped+=("kache-remote-warm-fs=n/a (${remote_fs_failure:-remote setup failed}; see raw/logs/)")
  fi
fi
if [[ $do_edit == 1 ]]; then
  edit_setup
  groups+=(edit)
fi

# ------------------------------------------------------------------ repetitions
n=${#groups[@]}
for rep in $(seq 1 "$reps"); do
  log "repetition $rep of $reps"
  for i in $(seq 0 $((n - 1))); do           # rotate the order from one repetition to the next
    "group_${groups[$(((i + rep - 1) % n))]}" "$rep"
  done
done

# ------------------------------------------------------------------ summary
printf '%s\n' ${skipped[@]+"${skipped[@]}"} >"$raw/skipped.txt"
KB_DATE="$started" KB_DURATION=$((SECONDS - t_start)) KB_LOAD_START="$load_start" KB_PROFILE="$profile" \
KB_REPS="$reps" KB_SMOKE="$smoke" KB_PACKAGE="$package" KB_WORKLOAD="$wl" KB_REPO="$repo" \
KB_KACHE="$kache_bin" KB_BUILD_ROOT="$build_root" KB_SCCACHE="$([[ $do_sccache == 1 ]] && echo "$sccache_bin")" \
python3 - "$meta" <<'EOF'
import json, os, platform, subprocess, sys
E = os.environ
def sh(*a):
    try: return subprocess.run(a, capture_output=True, text=True, timeout=60).stdout.strip()
    except Exception: return ""
def first(path, prefix, sep):
    try:
        for line in open(path):
            if line.startswith(prefix): return line.split(sep, 1)[1].strip().strip('"')
    except OSError: pass
    return ""
mem = first("/proc/meminfo", "MemTotal", ":")
buildtype = "unknown"
try:
    opts = json.loads(sh("meson", "introspect", E["KB_BUILD_ROOT"], "--buildoptions"))
    buildtype = next(o["value"] for o in opts if o["name"] == "buildtype")
except Exception: pass
kver = sh(E["KB_KACHE"], "--version")
json.dump({
    "date": E["KB_DATE"], "duration_s": int(E["KB_DURATION"]),
    "machine": {"cores": os.cpu_count(), "cpu": first("/proc/cpuinfo", "model name", ":"),
                "memory_gib": round(int(mem.split()[0]) / 1048576) if mem else None,
                "os": first("/etc/os-release", "PRETTY_NAME=", "="), "kernel": platform.release(),
                "loadavg_start": E["KB_LOAD_START"],
                "loadavg_end": " ".join(open("/proc/loadavg").read().split()[:3])},
    "tools": {"cargo": sh("cargo", "--version"), "rustc": sh("rustc", "--version"),
              "sccache": sh(E["KB_SCCACHE"], "--version") if E["KB_SCCACHE"] else None,
              "kache": kver.splitlines()[0] if kver else "", "kache_buildtype": buildtype,
              "kache_commit": sh("git", "-C", E["KB_REPO"], "describe", "--always", "--dirty")},
    "profile": E["KB_PROFILE"], "reps": int(E["KB_REPS"]), "smoke": E["KB_SMOKE"] == "1",
    "package": E["KB_PACKAGE"] or None, "workload": E["KB_WORKLOAD"],
    "skipped": dict(l.split("=", 1) for l in
                    open(os.path.join(os.path.dirname(sys.argv[1]), "skipped.txt")).read().splitlines() if l),
}, open(sys.argv[1], "w"), indent=1)
EOF
python3 "$here/summarize.py" --raw "$raw" --out "$out"
