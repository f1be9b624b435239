#!/usr/bin/env bash
# A private S3 endpoint behind TLS with a private CA: tests/s3/tls-proxy.py (python3 ssl)
# terminates https://localhost:PORT in front of the loopback S3 server, with a CA and a
# server certificate made here with openssl.
#   - with AWS_CA_BUNDLE (and with the option ca_bundle) naming the CA: `kache sync --push`
#     sends every entry over https and another store pulls them all;
#   - without it: sync fails with one line that names AWS_CA_BUNDLE / ca_bundle, and a
#     build whose daemon has that remote still succeeds (it compiles);
#   - a CA bundle that does not exist: a config error naming the setting.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
require_s3_server
command -v openssl >/dev/null || skip "openssl is not installed"
# The caller's CA bundle (some images point AWS_CA_BUNDLE at the system store) must not count.
unset AWS_CA_BUNDLE

note "a private CA and a certificate for localhost"
pki=$TEST_TMP/pki
mkdir -p "$pki"
(
  cd "$pki"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=kache test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost"
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > ext.cnf
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
) >"$TEST_TMP/openssl.log" 2>&1 || fail "openssl could not make the certificates: $(tail -5 "$TEST_TMP/openssl.log")"

start_s3
python3 "$S3_SCRIPTS/tls-proxy.py" --upstream "${S3_ENDPOINT#http://}" --cert "$pki/server.pem" --key "$pki/server.key" \
  --port-file "$TEST_TMP/tls.port" >/dev/null 2>"$TEST_TMP/tls-proxy.log" &
TLS_PID=$!
wait_until 60 test -s "$TEST_TMP/tls.port" || fail "the TLS proxy did not start: $(cat "$TEST_TMP/tls-proxy.log")"
HTTPS_ENDPOINT=https://localhost:$(cat "$TEST_TMP/tls.port")
echo "   $HTTPS_ENDPOINT -> $S3_ENDPOINT"

SYNC_OUT=$TEST_TMP/sync.out
# ksync ARGS...: `kache sync ARGS` in TEST_TMP; sets SYNC_RC; stdout+stderr in SYNC_OUT.
ksync() {
  SYNC_RC=0
  (cd "$TEST_TMP" && "$KACHE" sync "$@") >"$SYNC_OUT" 2>&1 || SYNC_RC=$?
  echo "   \$ kache sync $* -> exit $SYNC_RC:"
  sed 's/^/     /' "$SYNC_OUT" | head -n 8
}

note "machine A builds (no remote), then pushes over https with AWS_CA_BUNDLE"
machine a
no_remote
ws_a=$(new_workspace a-ws)
kcargo "$ws_a" build
entries=$(count_entries)
assert_ge "$entries" 8 "entries in A's store"
use_remote "$HTTPS_ENDPOINT"
AWS_CA_BUNDLE=$pki/ca.pem ksync --push
assert_eq "$SYNC_RC" 0 "kache sync --push with the CA bundle: exit code"
assert_eq "$(bucket_packs)" "$entries" "packs in the bucket"

note "machine B pulls over https, the CA named by the remote option ca_bundle"
machine b
printf '[remote]\nca_bundle = "%s"\n' "$pki/ca.pem" > "$TEST_TMP/ca.toml"
KACHE_CONFIG=$TEST_TMP/ca.toml ksync --pull --all
assert_eq "$SYNC_RC" 0 "kache sync --pull with ca_bundle: exit code"
assert_eq "$(count_entries)" "$entries" "entries pulled into B's store"

note "machine C without the CA bundle: one line naming AWS_CA_BUNDLE / ca_bundle"
machine c
ksync --pull --all
assert_ne "$SYNC_RC" 0 "kache sync --pull without the CA bundle: exit code"
assert_eq "$(count_entries)" 0 "entries pulled without the CA bundle"
assert_file_contains "$SYNC_OUT" "AWS_CA_BUNDLE" "the TLS failure names AWS_CA_BUNDLE"
assert_file_contains "$SYNC_OUT" "ca_bundle" "the TLS failure names the ca_bundle option"
n=$(grep -c "CA_BUNDLE" "$SYNC_OUT")
assert_eq "$n" 1 "lines about the CA bundle"

note "machine C builds with that remote in its daemon: the build succeeds and compiles"
daemon_start
ws_c=$(new_workspace c-ws)
kcargo "$ws_c" build
assert_ge "$(count_real_compiles)" 8 "real compiles without a usable remote"
assert_app_baseline "$ws_c"
"$KACHE" daemon stop >/dev/null

note "a CA bundle that does not exist: a config error naming the setting"
machine d
AWS_CA_BUNDLE=$TEST_TMP/no-such-ca.pem ksync --pull --all
assert_ne "$SYNC_RC" 0 "kache sync with a missing CA bundle: exit code"
assert_file_contains "$SYNC_OUT" "AWS_CA_BUNDLE" "the error names AWS_CA_BUNDLE"
KACHE_S3_CA_BUNDLE=$pki ksync --pull --all
assert_ne "$SYNC_RC" 0 "kache sync with a directory as CA bundle: exit code"
assert_file_contains "$SYNC_OUT" "KACHE_S3_CA_BUNDLE" "the error names KACHE_S3_CA_BUNDLE"
kill "$TLS_PID" 2>/dev/null || true
