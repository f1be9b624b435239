#!/usr/bin/env bash
# A hostile shared-directory remote, or a hostile manifest in the store, never hangs a
# build or fills the disk:
#  - a FIFO at a pack's key: `kache sync --pull` returns in bounded time with one error
#    line naming the object; a daemon whose remote check meets it still stops within 10 s;
#  - a manifest naming /dev/zero, or a FIFO in the workspace, as an input: the build
#    completes correctly in bounded time (the input set cannot match);
#  - a zstd bomb (a pack whose rlib claims 256 MiB of zeros): rejected without writing
#    a file larger than the pack bound (max_size / 4), checked with RLIMIT_FSIZE.
# Every step that could hang runs under a time limit, so a regression fails here.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

command -v zstd >/dev/null || fail "the zstd command is needed (scripts/install-deps.sh installs it)"
command -v timeout >/dev/null || fail "the timeout command is needed (coreutils)"

R=$TEST_TMP/remote
mkdir -p "$R"

# kill_test_procs: every cargo, kache or rustc of this test (found by its store path in
# the environment); for a step that hung past its limit.
kill_test_procs() {
  local p
  for p in /proc/[0-9]*; do
    case $(cat "$p/comm" 2>/dev/null) in cargo|kache|rustc|kached) ;; *) continue ;; esac
    { tr '\0' '\n' <"$p/environ"; } 2>/dev/null | grep -qE "^KACHE_CACHE_DIR=$TEST_TMP/" &&
      kill -KILL "${p#/proc/}" 2>/dev/null
  done
  return 0
}

# bounded LIMIT WHAT COMMAND...: runs COMMAND (a shell function is fine) in the background;
# fails the test if it has not finished within LIMIT seconds. Sets BOUNDED_RC, BOUNDED_S.
bounded() {
  local limit=$1 what=$2 pid t0=$SECONDS
  shift 2
  "$@" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if (( SECONDS - t0 >= limit )); then
      kill_test_procs
      kill -KILL "$pid" 2>/dev/null || true
      fail "$what did not finish within $limit s (hung)"
    fi
    sleep 0.2
  done
  BOUNDED_RC=0
  wait "$pid" || BOUNDED_RC=$?
  BOUNDED_S=$((SECONDS - t0))
  echo "   $what: exit $BOUNDED_RC after ${BOUNDED_S} s"
}

# pull DIR: `kache sync --pull --all` in DIR against $R, output in $TEST_TMP/pull.{out,err}.
pull() {
  (cd "$1" && KACHE_REMOTE_DIR=$R "$KACHE" sync --pull --all) >"$TEST_TMP/pull.out" 2>"$TEST_TMP/pull.err"
}

note "store A: cold build of the fixture, pushed to the shared directory"
ws=$(new_workspace ws)
kcargo "$ws" build
n=$(count_entries)
assert_ge "$n" 8 "entries in store A"
(cd "$TEST_TMP" && KACHE_REMOTE_DIR=$R "$KACHE" sync --push) >"$TEST_TMP/push.out" 2>&1 ||
  fail "kache sync --push failed: $(cat "$TEST_TMP/push.out")"
itoa_pack=$(find "$R/v1/packs/itoa" -type f -name '*.pack' | head -n 1)
[[ -n $itoa_pack ]] || fail "no pack of itoa in the shared directory"
cp "$itoa_pack" "$TEST_TMP/itoa.pack.good"

# ---------------------------------------------------------------- a FIFO at a pack key
note "a FIFO at itoa's pack key: kache sync --pull returns, with one error line"
rm -f "$itoa_pack"
mkfifo "$itoa_pack"
machine b
ws_b=$TEST_TMP/b/ws
cp -r "$FIXTURES/chain" "$ws_b"
rm -rf "$ws_b/target"
bounded 20 "kache sync --pull with a FIFO in the remote" pull "$ws_b"
sed 's/^/     /' "$TEST_TMP/pull.out" "$TEST_TMP/pull.err" | head -n 8
assert_ne "$BOUNDED_RC" 0 "kache sync --pull exit code with a FIFO at a pack key"
assert_file_contains "$TEST_TMP/pull.out" "1 failed" "the FIFO counts as one failed transfer"
assert_eq "$(grep -c 'itoa' "$TEST_TMP/pull.err")" 1 "error lines naming itoa's object"
assert_file_contains "$TEST_TMP/pull.err" "not a regular file" "the error says what is wrong"
assert_eq "$(count_entries)" "$((n - 1))" "entries pulled around the FIFO"
kcargo "$ws_b" build
assert_compiled 'itoa:itoa' "build after a pull without itoa"
assert_app_baseline "$ws_b"

note "a daemon whose remote check meets the FIFO stops within 10 s"
machine c
ws_c=$TEST_TMP/c/ws
cp -r "$FIXTURES/chain" "$ws_c"
rm -rf "$ws_c/target"
export KACHE_REMOTE_DIR=$R
daemon_start
ALLOW_KACHE_WARNINGS=1 bounded 120 "build with the daemon and a FIFO in the remote" kcargo "$ws_c" build
assert_eq "$BOUNDED_RC" 0 "build exit code with the daemon and a FIFO in the remote"
assert_app_baseline "$ws_c"
stop_daemon() { "$KACHE" daemon stop >"$TEST_TMP/stop.out" 2>&1; }
bounded 15 "kache daemon stop after meeting the FIFO" stop_daemon
wait_until 10 pid_gone "$DAEMON_PID" || fail "the daemon (pid $DAEMON_PID) still runs 10 s after kache daemon stop"
assert_file_contains "$KACHE_CACHE_DIR/kached.log" "not a regular file" "the daemon logged the FIFO"
unset KACHE_REMOTE_DIR
rm -f "$itoa_pack"
cp "$TEST_TMP/itoa.pack.good" "$itoa_pack"

# ---------------------------------------------------------------- inputs that never end
# inject_input WHAT PATH: every input set of itoa's manifest in store A starts with an
# input PATH (digest zero), so a lookup hashes it first.
inject_input() {
  local e k1 m
  # itoa's own manifest, through its entry's K1 (other manifests name itoa's rlib as a link input).
  e=$(grep -l '^crate itoa$' -r "$A/entries" | head -n 1)
  [[ -n $e ]] || fail "no entry of itoa in store A"
  k1=$(sed -n 's/^k1 //p' "$e")
  m=$A/manifests/${k1:0:2}/${k1:2}
  [[ -f $m ]] || fail "no manifest of itoa in store A ($m)"
  chmod u+w "$m"
  python3 - "$m" "$1" <<'PY'
import sys
path, inp = sys.argv[1], sys.argv[2]
out = []
for line in open(path).read().split("\n"):
    out.append(line)
    if line.startswith("set "):
        out.append("f " + "0" * 32 + " " + inp)
open(path, "w").write("\n".join(out))
PY
}

export KACHE_CACHE_DIR=$TEST_TMP/cache
A=$KACHE_CACHE_DIR
note "a manifest naming /dev/zero as an input: the build completes in bounded time"
inject_input /dev/zero
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 bounded 120 "build over a manifest naming /dev/zero" kcargo "$ws" build
assert_eq "$BOUNDED_RC" 0 "build exit code over a manifest naming /dev/zero"
assert_compiled 'itoa:itoa' "itoa (its input set cannot match)"
assert_app_baseline "$ws"

note "a manifest naming a FIFO in the workspace as an input: the build completes in bounded time"
mkfifo "$ws/trap.fifo"
# Raw and absolute: itoa (a registry crate) has no cwd root to expand a sentinel against.
inject_input "$ws/trap.fifo"
pcargo "$ws" clean
ALLOW_KACHE_WARNINGS=1 bounded 120 "build over a manifest naming a FIFO" kcargo "$ws" build
assert_eq "$BOUNDED_RC" 0 "build exit code over a manifest naming a FIFO"
assert_app_baseline "$ws"
rm -f "$ws/trap.fifo"

# ---------------------------------------------------------------- a zstd bomb
note "a zstd bomb at itoa's pack key: rejected before it reaches the disk"
bomb_mib=256
zstd -q -d -c "$TEST_TMP/itoa.pack.good" > "$TEST_TMP/pack.raw"
chmod u+w "$itoa_pack"
# The rlib's output claims bomb_mib MiB and its blob is that many zeros (the hash cannot
# match, so the whole blob is read before the old code rejected it).
python3 - "$TEST_TMP/pack.raw" "$bomb_mib" <<'PY' | zstd -q -f --check -1 -o "$itoa_pack"
import struct, sys
data = open(sys.argv[1], "rb").read()
bomb = int(sys.argv[2]) << 20
assert data[:7] == b"KPACK1\n", "not a pack"
n = struct.unpack("<I", data[7:11])[0]
entry = data[11:11 + n].decode()
lines = entry.split("\n")
victim = None
for i, line in enumerate(lines):
    t = line.split(" ")
    if t[0] == "out" and t[4] == "file" and t[5].endswith(".rlib"):
        victim = t[1]
        t[3] = str(bomb)
        lines[i] = " ".join(t)
assert victim, "no rlib in itoa's entry"
entry = "\n".join(lines).encode()
out = sys.stdout.buffer
out.write(data[:7] + struct.pack("<I", len(entry)) + entry)
pos = 11 + n
count = struct.unpack("<I", data[pos:pos + 4])[0]
out.write(data[pos:pos + 4])
pos += 4
for _ in range(count):
    digest, size = data[pos:pos + 16], struct.unpack("<Q", data[pos + 16:pos + 24])[0]
    body = data[pos + 24:pos + 24 + size]
    pos += 24 + size
    if digest.hex() == victim:
        out.write(digest + struct.pack("<Q", bomb))
        zeros = b"\0" * (1 << 20)
        for _ in range(bomb >> 20):
            out.write(zeros)
    else:
        out.write(digest + struct.pack("<Q", size) + body)
PY
echo "   bomb: $(stat -c %s "$itoa_pack") bytes compressed, $bomb_mib MiB unpacked"
machine d
ws_d=$TEST_TMP/d/ws
cp -r "$FIXTURES/chain" "$ws_d"
rm -rf "$ws_d/target"
export KACHE_MAX_SIZE=64M  # a pack may fill at most 16 MiB
bound=$((16 << 20))
# No file kache writes may pass the bound: with RLIMIT_FSIZE at the bound, a write past it
# kills the pull with SIGXFSZ (a poll of tmp/ could miss a 256 MiB file that lives 0.3 s).
pull_within_bound() { (ulimit -f $((bound / 1024)) && pull "$1"); }
bounded 120 "kache sync --pull of a zstd bomb (files limited to $((bound >> 20)) MiB)" pull_within_bound "$ws_d"
sed 's/^/     /' "$TEST_TMP/pull.out" "$TEST_TMP/pull.err" | head -n 8
(( BOUNDED_RC < 128 )) ||
  fail "kache sync --pull of the bomb died of signal $((BOUNDED_RC - 128)) (SIGXFSZ is 25: it wrote a file past the bound)"
assert_ne "$BOUNDED_RC" 0 "kache sync --pull exit code with a bomb"
assert_file_contains "$TEST_TMP/pull.out" "1 failed" "the bomb counts as one failed transfer"
assert_file_contains "$TEST_TMP/pull.err" "itoa" "the failure names the object"
assert_eq "$(count_entries)" "$((n - 1))" "entries pulled around the bomb"
[[ -z $(find "$KACHE_CACHE_DIR/tmp" -mindepth 1 2>/dev/null) ]] || fail "files left in the store's tmp/"
kcargo "$ws_d" build
assert_compiled 'itoa:itoa' "build after a pull without the bomb"
assert_app_baseline "$ws_d"
unset KACHE_MAX_SIZE
