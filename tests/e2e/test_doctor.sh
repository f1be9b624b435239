#!/usr/bin/env bash
# kache doctor checks the wiring (is kache cargo's compiler wrapper, from the environment
# or cargo's config; another wrapper such as sccache in the way), the store (owner and
# modes), the daemon (running or not, with and without a remote) and the remote (a shared
# directory that exists or not; the loopback S3 server with good and wrong credentials).
# Each problem is one line with its fix, and the exit status is 1 when there is any.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

# A user of our own: a HOME and CARGO_HOME with nothing in them (rustup still finds its toolchains).
export RUSTUP_HOME=${RUSTUP_HOME:-$HOME/.rustup}
export HOME=$TEST_TMP/home CARGO_HOME=$TEST_TMP/home/.cargo
mkdir -p "$CARGO_HOME" "$TEST_TMP/bin" "$TEST_TMP/work"
# Small enough that free space is never the problem on a test machine.
export KACHE_MAX_SIZE=64M
machine local
cd "$TEST_TMP/work"
OUT=$TEST_TMP/doctor.out

# doctor [ARGS...]: runs kache doctor into $OUT; sets RC.
doctor() {
  RC=0
  "$KACHE" doctor "$@" >"$OUT" 2>"$TEST_TMP/doctor.err" || RC=$?
  sed 's/^/   | /' "$OUT"
  [[ $RC != 2 ]] || fail "kache doctor: usage error: $(cat "$TEST_TMP/doctor.err")"
}

note "no wrapper anywhere: a problem naming the fix"
doctor
assert_eq "$RC" 1 "doctor exit status without any wiring"
assert_file_contains "$OUT" "^problem: kache is not cargo's compiler wrapper.*kache init" "the missing wiring is a problem with its fix"

note "sccache set in \$CARGO_HOME/config.toml: a problem, exit 1"
printf '#!/bin/sh\nexec "$@"\n' >"$TEST_TMP/bin/sccache"
chmod +x "$TEST_TMP/bin/sccache"
printf '[build]\nrustc-wrapper = "sccache"\n' >"$CARGO_HOME/config.toml"
PATH=$TEST_TMP/bin:$PATH doctor
assert_eq "$RC" 1 "doctor exit status with sccache as the wrapper"
assert_file_contains "$OUT" "^problem: cargo's compiler wrapper is sccache \(build.rustc-wrapper in $CARGO_HOME/config.toml\), not kache.*kache init -y" \
  "sccache in the way is named, with its fix"

note "RUSTC_WRAPPER=kache wins over it: ok, and the config's sccache is noted"
RUSTC_WRAPPER=$KACHE PATH=$TEST_TMP/bin:$PATH doctor
assert_file_contains "$OUT" "^ok: cargo runs this kache as its compiler wrapper \(RUSTC_WRAPPER\)" "RUSTC_WRAPPER=kache is ok"
assert_file_contains "$OUT" "^note: build.rustc-wrapper in .* = \"sccache\" is overridden here" "the overridden sccache is noted"
assert_file_not_contains "$OUT" "^problem: cargo's compiler wrapper" "no wiring problem with RUSTC_WRAPPER=kache"

note "a project's .cargo/config.toml naming kache by name on PATH, and RUSTC_WORKSPACE_WRAPPER noted"
rm "$CARGO_HOME/config.toml"
mkdir -p "$TEST_TMP/work/proj/.cargo" "$TEST_TMP/work/proj/src/deep"
printf '[build]\nrustc-wrapper = "kache"\n' >"$TEST_TMP/work/proj/.cargo/config.toml"
cd "$TEST_TMP/work/proj/src/deep"
PATH=$(dirname "$KACHE"):$PATH RUSTC_WORKSPACE_WRAPPER=/usr/bin/true doctor
assert_file_contains "$OUT" "^ok: cargo runs this kache as its compiler wrapper \(build.rustc-wrapper in $TEST_TMP/work/proj/.cargo/config.toml\)" \
  "the wrapper is found in an ancestor's .cargo/config.toml"
assert_file_contains "$OUT" "^note: RUSTC_WORKSPACE_WRAPPER = \"/usr/bin/true\"" "the workspace wrapper is noted"
printf '[build\n' >"$TEST_TMP/work/proj/.cargo/config.toml"
cd "$TEST_TMP/work/proj"
RUSTC_WRAPPER=$KACHE doctor
assert_eq "$RC" 1 "doctor exit status with a malformed cargo config"
assert_file_contains "$OUT" "^problem: cargo config: $TEST_TMP/work/proj/.cargo/config.toml:1:" "a malformed cargo config is a problem"
cd "$TEST_TMP/work"
rm -r "$TEST_TMP/work/proj"

export RUSTC_WRAPPER=$KACHE
note "all well: no remote, no daemon, a private store: exit 0 with ok lines"
doctor
assert_eq "$RC" 0 "doctor exit status when all is well"
assert_file_contains "$OUT" "^ok: store $KACHE_CACHE_DIR is private" "the store's modes are checked"
assert_file_contains "$OUT" "^ok: .* free on the store's filesystem.*max_size is" "free space is checked against max_size"
assert_file_contains "$OUT" "^(ok|note): the store's filesystem (supports|has no) reflinks" "reflink support is checked"
assert_file_contains "$OUT" "^ok: no daemon running \(none needed: no remote is configured\)" "no daemon is fine without a remote"
assert_file_contains "$OUT" "^ok: no remote configured" "no remote is reported"
[[ -z $(find "$KACHE_CACHE_DIR/tmp" -type f 2>/dev/null) ]] || fail "the reflink probe left files in tmp/: $(ls -a "$KACHE_CACHE_DIR/tmp")"

note "a group-writable store: a problem with chmod as the fix"
chmod 770 "$KACHE_CACHE_DIR"
doctor
assert_eq "$RC" 1 "doctor exit status with a group-writable store"
assert_file_contains "$OUT" "^problem: $KACHE_CACHE_DIR is writable by its group \(mode 0770\).*; chmod 700 $KACHE_CACHE_DIR" \
  "the group-writable store is a problem"
chmod 700 "$KACHE_CACHE_DIR"
chmod 755 "$KACHE_CACHE_DIR/entries" 2>/dev/null || mkdir -m 755 "$KACHE_CACHE_DIR/entries"
doctor
assert_file_contains "$OUT" "^problem: $KACHE_CACHE_DIR/entries can be read by others" "a readable folder inside the store is a problem"
chmod 700 "$KACHE_CACHE_DIR/entries"

note "a shared-directory remote that exists, without and with the daemon"
mkdir -p "$TEST_TMP/shared"
export KACHE_REMOTE_DIR=$TEST_TMP/shared
doctor
assert_eq "$RC" 1 "doctor exit status with a remote and no daemon"
assert_file_contains "$OUT" "^problem: no daemon running, but a remote is configured.*kache daemon start" "a remote without a daemon is a problem"
assert_file_contains "$OUT" "^ok: the remote file://$TEST_TMP/shared answers" "the shared directory is reachable"
assert_file_contains "$OUT" "^ok: the remote accepts writes" "the shared directory is writable"
daemon_start
doctor
assert_eq "$RC" 0 "doctor exit status with the daemon running and the remote fine"
version=$("$KACHE" --version | awk '{print $2}')
assert_file_contains "$OUT" "^ok: daemon running \(pid $DAEMON_PID, version $version\)" "the running daemon and its version"
KACHE_REMOTE_READONLY=1 doctor
assert_file_contains "$OUT" "^ok: the remote is read-only by configuration" "a read-only remote is reported as such"
"$KACHE" daemon stop >/dev/null

note "a shared-directory remote that does not exist"
export KACHE_REMOTE_DIR=$TEST_TMP/missing
doctor
assert_eq "$RC" 1 "doctor exit status with a missing remote directory"
assert_file_contains "$OUT" "^problem: the remote file://$TEST_TMP/missing cannot be used: .*does not exist" "the missing remote is a problem"
unset KACHE_REMOTE_DIR

note "the loopback S3 server: good credentials, then a wrong secret"
start_s3
use_remote "$S3_ENDPOINT"
doctor
assert_file_contains "$OUT" "^ok: the remote .* answers and accepts the credentials" "S3 with good credentials"
assert_file_contains "$OUT" "^ok: the remote accepts writes" "S3 writes are accepted"
AWS_SECRET_ACCESS_KEY=not-the-secret doctor
assert_eq "$RC" 1 "doctor exit status with wrong S3 credentials"
assert_file_contains "$OUT" "^problem: the remote .* refused the credentials: .*; check the credentials" "wrong credentials are a problem with the fix"
note "passed"
