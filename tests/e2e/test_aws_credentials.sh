#!/usr/bin/env bash
# The AWS credential chain with the real binaries, real cargo and the strict S3 server on
# 127.0.0.1, which accepts only the temporary key pair that a loopback stand-in for AWS STS
# (tests/aws/sts-emulator.py: AWS STS cannot be reached from here) hands out. No AWS_* key
# variable is set, so every request is signed with credentials kache got from:
#   web identity (AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE, AssumeRoleWithWebIdentity at
#     AWS_ENDPOINT_URL_STS): machine A's daemon uploads a build, machine B pulls it with zero
#     real compiles, `kache doctor` says "credentials from web identity";
#   a wrong token: doctor prints a one-line problem naming the fix; the build still compiles;
#   credential_process in a profile, and role_arn + source_profile (AssumeRole signed with the
#     source profile's keys): doctor names the source, writes succeed, a fresh store pulls;
#   refresh: STS hands out credentials that expire 301 s later (inside the 5 min margin), so a
#     build 2 s after the first makes the long-lived daemon ask STS again (its /__calls count).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
require_s3_server

AK=ASIAEMULATED0000TEMP
SK=emulatedSecretKey/handed+out/by/sts
ST=FwoGZXIvYXdzEmulatedSessionToken
SRC_AK=AKIDSOURCEPROFILE000
SRC_SK=sourceProfileSecret
ROLE=arn:aws:iam::123456789012:role/kache-ci
GOOD_TOKEN=eyJhbGciOiJSUzI1NiJ9.emulated-oidc-token.sig
OUT=$TEST_TMP/doctor.out

note "starting the strict S3 server, which knows only the temporary key $AK"
env_file=$TEST_TMP/s3.env rc=0
bash "$S3_SCRIPTS/start-s3-server.sh" --prefix "$KACHE_BUILD_ROOT/s3-server" --data "$TEST_TMP/s3" \
  --bucket kache-test --access-key "$AK" --secret-key "$SK" >"$env_file" 2>"$TEST_TMP/s3-start.err" || rc=$?
[[ $rc -ne 77 ]] || skip "the loopback S3 server cannot run here: $(tail -n 1 "$TEST_TMP/s3-start.err")"
[[ $rc -eq 0 ]] || fail "the S3 server did not start: $(tail -5 "$TEST_TMP/s3-start.err")"
# shellcheck disable=SC1090
source "$env_file"
S3_PIDFILE=$S3_SERVER_PIDFILE
S3_BUCKET_DIR=$S3_SERVER_DATA/$S3_BUCKET

# No key in the environment and no ~/.aws of the user's: only the chain can find credentials.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE \
  KACHE_S3_ACCESS_KEY KACHE_S3_SECRET_KEY KACHE_S3_SESSION_TOKEN KACHE_S3_PROFILE AWS_ROLE_ARN \
  AWS_WEB_IDENTITY_TOKEN_FILE AWS_ENDPOINT_URL AWS_CONTAINER_CREDENTIALS_FULL_URI \
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
export AWS_CONFIG_FILE=$TEST_TMP/aws/config AWS_SHARED_CREDENTIALS_FILE=$TEST_TMP/aws/credentials
export AWS_EC2_METADATA_DISABLED=true AWS_REGION=us-east-1
mkdir -p "$TEST_TMP/aws"
: >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
use_remote "$S3_ENDPOINT"

T0=$SECONDS
step() { note "$* (at $((SECONDS - T0)) s)"; }

STS_PIDS=()
# start_sts NAME EXPIRES_IN: an emulator handing out $AK/$SK/$ST; sets STS_URL.
start_sts() {
  local ready=$TEST_TMP/sts-$1.url
  python3 "$KACHE_SOURCE_ROOT/tests/aws/sts-emulator.py" --ready-file "$ready" --access-key "$AK" \
    --secret-key "$SK" --session-token "$ST" --token "$GOOD_TOKEN" --source-access-key "$SRC_AK" \
    --expires-in "$2" 2>"$TEST_TMP/sts-$1.log" &
  STS_PIDS+=($!)
  wait_until 10 test -s "$ready" || fail "the STS emulator did not start: $(cat "$TEST_TMP/sts-$1.log")"
  STS_URL=$(cat "$ready")
}
sts_calls() { curl -sf "$STS_URL/__calls${1:+?action=$1}"; }
# The test's exit status is handed on to daemon_lib's cleanup (which reads $? first).
trap '_rc=$?; for p in "${STS_PIDS[@]}"; do kill "$p" 2>/dev/null; done; (exit $_rc); _daemon_cleanup' EXIT

doctor() {
  "$KACHE" doctor >"$OUT" 2>&1 || true
  grep -i 'remote' "$OUT" | sed 's/^/   | /'
}
restart_daemon() {
  "$KACHE" daemon stop >/dev/null 2>&1 || true
  daemon_start
}

start_sts main 3600
MAIN_STS_URL=$STS_URL
export AWS_ENDPOINT_URL_STS=$STS_URL
echo "   STS emulator at $STS_URL, S3 at $S3_ENDPOINT"

step "web identity: machine A builds; its daemon uploads with the STS credentials"
printf '%s\n' "$GOOD_TOKEN" >"$TEST_TMP/token"
export AWS_ROLE_ARN=$ROLE AWS_WEB_IDENTITY_TOKEN_FILE=$TEST_TMP/token
machine a
daemon_start
ws_a=$(new_workspace a-ws why)
kcargo "$ws_a" build
assert_ge "$(count_real_compiles)" 1 "A's cold build compiles"
entries=$(count_entries)
wait_until 60 queue_drained || fail "A's uploads did not drain: $("$KACHE" daemon status --json)"
assert_eq "$(packs_missing)" 0 "entries of A with no pack in the bucket"
assert_ge "$(bucket_packs)" "$entries" "packs in the bucket"
assert_ge "$(sts_calls AssumeRoleWithWebIdentity)" 1 "AssumeRoleWithWebIdentity calls"
doctor
assert_file_contains "$OUT" "accepts the credentials \(credentials from web identity \(role $ROLE\)\)" \
  "doctor names web identity as the source"

step "machine B (empty store, another path) pulls everything with the same chain"
machine b
daemon_start
ws_b=$(mkdir -p "$TEST_TMP/elsewhere" && new_workspace elsewhere/b-ws why)
kcargo "$ws_b" build
assert_no_real_compiles "B's build from the remote"

step "refresh: credentials that expire in 301 s are fetched again by the long-lived daemon"
start_sts short 301
export AWS_ENDPOINT_URL_STS=$STS_URL AWS_ROLE_ARN=$ROLE AWS_WEB_IDENTITY_TOKEN_FILE=$TEST_TMP/token
printf '%s\n' "$GOOD_TOKEN" >"$TEST_TMP/token"
machine f
restart_daemon
ws_f=$(new_workspace f-ws why)
echo "// machine f" >>"$ws_f/whylib/src/lib.rs" # a miss, so that the daemon uploads
kcargo "$ws_f" build
wait_until 60 queue_drained || fail "F's uploads did not drain"
n1=$(sts_calls)
assert_ge "$n1" 1 "STS calls after F's first build"
sleep 2
echo "// edited after the first build" >>"$ws_f/whylib/src/lib.rs"
kcargo "$ws_f" build
wait_until 60 queue_drained || fail "F's second uploads did not drain"
n2=$(sts_calls)
echo "   STS calls: $n1 after the first build, $n2 after the second"
assert_ge "$n2" $((n1 + 1)) "the daemon asked STS again for credentials near expiry"
assert_eq "$(status_field upload_failures)" 0 "upload failures with refreshed credentials"
assert_eq "$(packs_missing)" 0 "entries of F with no pack in the bucket"
"$KACHE" daemon stop >/dev/null 2>&1 || true
export AWS_ENDPOINT_URL_STS=$MAIN_STS_URL
sts_calls() { curl -sf "$MAIN_STS_URL/__calls${1:+?action=$1}"; }

step "a wrong web identity token: doctor names the fix; the build still compiles"
printf 'not-the-token\n' >"$TEST_TMP/token"
machine c
restart_daemon
doctor
assert_file_contains "$OUT" "^problem: .*InvalidIdentityToken.*AWS_WEB_IDENTITY_TOKEN_FILE" \
  "doctor's problem line names the token and the fix"
ws_c=$(new_workspace c-ws why)
ALLOW_KACHE_WARNINGS=1 kcargo "$ws_c" build
assert_ge "$(count_real_compiles)" 2 "the build without usable credentials still compiles"
"$KACHE" daemon stop >/dev/null 2>&1 || true
unset AWS_ROLE_ARN AWS_WEB_IDENTITY_TOKEN_FILE

step "credential_process in a profile"
cat >"$TEST_TMP/aws/helper.sh" <<EOS
#!/bin/sh
printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s", "Expiration": "%s"}\n' \
  '$AK' '$SK' '$ST' "\$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)"
EOS
chmod +x "$TEST_TMP/aws/helper.sh"
cat >"$AWS_CONFIG_FILE" <<EOS
[profile proc]
credential_process = $TEST_TMP/aws/helper.sh --profile proc
[profile role]
role_arn = $ROLE
source_profile = src
EOS
printf '[src]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$SRC_AK" "$SRC_SK" >"$AWS_SHARED_CREDENTIALS_FILE"
export AWS_PROFILE=proc
machine d
restart_daemon
doctor
assert_file_contains "$OUT" "credentials from credential_process in profile 'proc'" "doctor names credential_process"
assert_file_contains "$OUT" "the remote accepts writes" "writes signed with the process's credentials"
ws_d=$(new_workspace d-ws why)
kcargo "$ws_d" build
assert_no_real_compiles "a fresh store pulls with credential_process"
"$KACHE" daemon stop >/dev/null 2>&1 || true

step "role_arn + source_profile: AssumeRole signed with the source profile's keys"
export AWS_PROFILE=role
before=$(sts_calls AssumeRole)
machine e
restart_daemon
doctor
assert_file_contains "$OUT" "credentials from role $ROLE in profile 'role'" "doctor names the assumed role"
assert_file_contains "$OUT" "the remote accepts writes" "writes signed with the assumed role's credentials"
ws_e=$(new_workspace e-ws why)
kcargo "$ws_e" build
assert_no_real_compiles "a fresh store pulls with the assumed role"
assert_ge "$(sts_calls AssumeRole)" $((before + 1)) "AssumeRole calls accepted (signed with $SRC_AK)"
"$KACHE" daemon stop >/dev/null 2>&1 || true
unset AWS_PROFILE

step "done"
