#!/usr/bin/env bash
# S3 transport with the real binaries, on the small fixture:
#   machine A's daemon uploads through a virtual-hosted-style endpoint
#   (http://localhost:PORT with addressing_style = "virtual": requests go to
#   kache-test.localhost:PORT, which curl resolves to loopback; the strict server, started
#   with --vhost, checks the signature against that Host) and, with multipart_threshold
#   = "1KiB" in the config's [remote] table, every pack goes up as a multipart upload
#   (the server records S3's multipart ETag, "<md5>-<parts>"); no upload is left open;
#   machine B (empty store, another path, path-style to 127.0.0.1) pulls everything with
#   `kache sync --pull` and builds with zero real compiles.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/daemon_lib.sh"
require_s3_server

note "starting the S3 server, virtual-hosted-style requests accepted"
rc=0
bash "$S3_SCRIPTS/start-s3-server.sh" --prefix "$KACHE_BUILD_ROOT/s3-server" --data "$TEST_TMP/s3" \
  --bucket kache-test --vhost >"$TEST_TMP/s3.env" 2>"$TEST_TMP/s3-start.err" || rc=$?
[[ $rc -ne 77 ]] || skip "the loopback S3 server cannot run here: $(tail -n 1 "$TEST_TMP/s3-start.err")"
[[ $rc -eq 0 ]] || fail "the S3 server did not start: $(tail -5 "$TEST_TMP/s3-start.err")"
source "$TEST_TMP/s3.env"
S3_PIDFILE=$S3_SERVER_PIDFILE
S3_PORT=${S3_ENDPOINT##*:}
S3_BUCKET_DIR=$S3_SERVER_DATA/$S3_BUCKET

cat >"$TEST_TMP/config.toml" <<'TOML'
[remote]
addressing_style = "virtual"
multipart_threshold = "1KiB"
TOML
export KACHE_CONFIG=$TEST_TMP/config.toml

note "machine A builds; its daemon uploads to kache-test.localhost:$S3_PORT in parts"
machine a
use_remote "http://localhost:$S3_PORT"
daemon_start
ws_a=$(new_workspace a-ws)
kcargo "$ws_a" build
entries=$(count_entries)
assert_ge "$entries" 8 "entries in A's store"
wait_until 60 queue_drained || fail "A's uploads did not drain: $("$KACHE" daemon status --json)"
assert_eq "$(bucket_packs)" "$entries" "packs in the bucket"
assert_eq "$(bucket_manifests)" "$entries" "manifest objects in the bucket"
# Packs over 1 KiB went up in parts: their ETag is S3's multipart one.
big=$(find "$S3_BUCKET_DIR/v1/packs" -name '*.pack._S3rver_object' -size +1k | wc -l)
multi=$({ find "$S3_BUCKET_DIR/v1/packs" -name '*.pack._S3rver_object.md5' -exec grep -l -- '-[0-9]*$' {} + || true; } | wc -l)
echo "   $entries packs, $big over 1 KiB, $multi uploaded in parts"
assert_ge "$big" 1 "packs over the threshold"
assert_eq "$multi" "$big" "packs over the threshold uploaded as multipart uploads"
open=$({ find "$S3_BUCKET_DIR/._S3rver_uploads" -mindepth 1 -maxdepth 1 2>/dev/null || true; } | wc -l)
assert_eq "$open" 0 "multipart uploads left open on the server"
assert_file_not_contains "$S3_SERVER_LOG" "SignatureDoesNotMatch" "the server rejected a signature"
"$KACHE" daemon stop >/dev/null

note "machine B (empty store, another path) pulls path-style from 127.0.0.1 and builds with no compiles"
machine b
use_remote "$S3_ENDPOINT"
ws_b=$(mkdir -p "$TEST_TMP/elsewhere" && new_workspace elsewhere/b-ws)
out=$(cd "$ws_b" && "$KACHE" sync --pull 2>"$TEST_TMP/pull.err") || fail "kache sync --pull failed: $out $(cat "$TEST_TMP/pull.err")"
echo "   kache sync --pull: $out"
assert_eq "$(count_entries)" "$entries" "entries pulled into B's store"
no_remote
kcargo "$ws_b" build
assert_no_real_compiles "B's build from the pulled store"
assert_app_baseline "$ws_b"
