#!/usr/bin/env bash
# S3 credentials from the container credential endpoint, then from the EC2 instance metadata
# service, and from nothing else: the daemon uploads a fixture build to the strict loopback
# S3 server (tests/s3) with the keys a metadata emulator hands out, and `kache doctor` names
# the source. The two services cannot be reached from here: tests/aws/metadata-emulator.py
# stands in for them on loopback and answers as they document (the container's
# Authorization header, IMDSv2 session tokens); it hands out the keys the S3 server accepts.
#
# Needs the credential chain (CredentialProvider and `kache doctor`'s "credentials from"
# line): without it this test is skipped (exit 77), never passed.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"

EMU_PID=
stop_emulator() {
  [[ -z $EMU_PID ]] || { kill "$EMU_PID" 2>/dev/null || true; wait "$EMU_PID" 2>/dev/null || true; }
  EMU_PID=
}

# start_emulator MODE ARGS...: the emulator with the S3 server's keys; sets EMU_ORIGIN.
start_emulator() {
  local mode=$1 ready=$TEST_TMP/emu-$1.port
  shift
  rm -f "$ready"
  python3 "$KACHE_SOURCE_ROOT/tests/aws/metadata-emulator.py" --mode "$mode" --ready-file "$ready" \
    --access-key "$S3_KEY" --secret-key "$S3_SECRET" "$@" 2>"$TEST_TMP/emu-$mode.log" &
  EMU_PID=$!
  wait_until 30 test -s "$ready" || fail "the $mode emulator did not start: $(cat "$TEST_TMP/emu-$mode.log")"
  EMU_ORIGIN=http://127.0.0.1:$(cat "$ready")
}

# emulator_calls: the requests the running emulator answered (GET /__calls, not counted).
emulator_calls() {
  python3 -c '
import json, sys, urllib.request
calls = json.load(urllib.request.urlopen(sys.argv[1] + "/__calls", timeout=5))
print(sum(calls.values()))' "$EMU_ORIGIN"
}

# doctor: `kache doctor` into $OUT, exit status in RC.
OUT=$TEST_TMP/doctor.out
doctor() {
  RC=0
  "$KACHE" doctor >"$OUT" 2>&1 || RC=$?
}

# build_and_upload NAME: machine NAME builds the chain fixture through its daemon with the
# remote under prefix NAME; every entry's pack reaches the bucket.
build_and_upload() {
  local name=$1 ws entries packs
  machine "$name"
  export KACHE_S3_PREFIX=$name
  ws=$(new_workspace "ws-$name")
  daemon_start
  kcargo "$ws" build
  entries=$(count_entries)
  assert_ge "$entries" 3 "$name: entries after the build"
  wait_until 60 queue_drained || fail "$name: pending uploads after 60 s: $("$KACHE" daemon status --json)"
  assert_eq "$(status_field upload_failures)" 0 "$name: upload failures"
  packs=$(find "$S3_BUCKET_DIR/$name" -name '*.pack._S3rver_object' 2>/dev/null | wc -l)
  assert_eq "$packs" "$entries" "$name: packs in the bucket"
  "$KACHE" daemon stop >/dev/null 2>&1 || true
}

start_s3
S3_KEY=$AWS_ACCESS_KEY_ID S3_SECRET=$AWS_SECRET_ACCESS_KEY
# No other source may answer: no keys in the environment, no profile, no web identity.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_SERVICE_ENDPOINT
# (HOME stays: rustup and cargo live there; the profile files are pointed away instead.)
export AWS_SHARED_CREDENTIALS_FILE=$TEST_TMP/no-aws/credentials AWS_CONFIG_FILE=$TEST_TMP/no-aws/config
use_remote "$S3_ENDPOINT"

note "container credentials only (the token from a file)"
echo "Bearer e2e-container-token" >"$TEST_TMP/container-token"
start_emulator ecs --auth-token "Bearer e2e-container-token" --path /v2/credentials/kache-e2e
export AWS_CONTAINER_CREDENTIALS_FULL_URI=$EMU_ORIGIN/v2/credentials/kache-e2e
export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$TEST_TMP/container-token
export AWS_EC2_METADATA_DISABLED=true
machine ecs
doctor
# Without the chain the metadata sources are never asked and doctor names no source: skip.
# With it (kached then holds doctor's "credentials from" note) anything else is a failure.
if ! grep -q "credentials from" "$OUT" && ! grep -qaF " (credentials from " "$KACHED_BIN"; then
  skip "needs the credential chain: kache doctor names no credential source ($(grep -i 'remote' "$OUT" | tr '\n' ' '))"
fi
assert_file_contains "$OUT" "credentials from container credentials \($EMU_ORIGIN/v2/credentials/kache-e2e\)" "doctor names the container source"
build_and_upload ecs
assert_ge "$(emulator_calls)" 1 "requests to the container endpoint"
stop_emulator
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE AWS_EC2_METADATA_DISABLED

note "instance metadata only (IMDSv2)"
start_emulator imds --role kache-e2e-role
export AWS_EC2_METADATA_SERVICE_ENDPOINT=$EMU_ORIGIN
machine imds
doctor
assert_file_contains "$OUT" "credentials from instance metadata \(IMDSv2, role kache-e2e-role\)" "doctor names the instance source"
build_and_upload imds
assert_ge "$(emulator_calls)" 3 "requests to the instance metadata service (token, role, credentials)"
stop_emulator
note "passed"
