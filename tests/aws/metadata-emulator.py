#!/usr/bin/env python3
"""A loopback stand-in for the ECS/EKS container credential endpoint and the EC2 instance
metadata service (IMDS), which cannot be reached from here. It answers as their
documentation describes:

  --mode ecs   GET <--path> with the Authorization header the container was given
               (--auth-token; 401 without it or with another value) answers
               {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "RoleArn"}.
  --mode imds  PUT /latest/api/token with X-aws-ec2-metadata-token-ttl-seconds (1..21600)
               answers a session token; GET /latest/meta-data/iam/security-credentials/
               answers the role name, and .../<role> the role's credentials with
               "Code": "Success". Every GET needs X-aws-ec2-metadata-token with a token this
               server handed out (401 otherwise), unless --imds-v1 allows IMDSv1; with
               --no-v2 the token request answers 405 (a service without IMDSv2).

The keys handed out are the ones on the command line; Expiration is now + --expires-in s.
GET /__calls answers a JSON object counting the requests per "METHOD path".
--fault garbage|hang|500 makes every credential answer malformed JSON, never answer, or
answer HTTP 500 (the token request and /__calls keep working).

Listens on 127.0.0.1, port 0 (the kernel picks); writes the port to --ready-file once it
accepts connections (written to a temp file, then renamed).
"""
import argparse
import datetime
import http.server
import json
import os
import secrets
import sys
import threading
import time

IMDS_TOKEN_PATH = "/latest/api/token"
IMDS_ROLES_PATH = "/latest/meta-data/iam/security-credentials/"
MAX_TOKEN_TTL = 21600
HANG_SECONDS = 120


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["ecs", "imds"], required=True)
    p.add_argument("--ready-file", required=True)
    p.add_argument("--access-key", default="ASIAEMULATOREXAMPLE")
    p.add_argument("--secret-key", default="emulator/secret/key")
    p.add_argument("--session-token", default="emulator-session-token")
    p.add_argument("--expires-in", type=int, default=3600, help="seconds from now")
    p.add_argument("--path", default="/v2/credentials/kache-test", help="ecs: the credential path")
    p.add_argument("--auth-token", default="", help="ecs: the Authorization value required (none if empty)")
    p.add_argument("--role", default="kache-test-role", help="imds: the instance's role")
    p.add_argument("--imds-v1", action="store_true", help="imds: accept GETs without a token")
    p.add_argument("--no-v2", action="store_true", help="imds: the token request answers 405")
    p.add_argument("--fault", choices=["none", "garbage", "hang", "500"], default="none")
    return p.parse_args()


ARGS = parse_args()
TOKENS = set()
CALLS = {}
LOCK = threading.Lock()


def credentials(extra):
    exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=ARGS.expires_in)
    body = dict(extra)
    body.update({
        "AccessKeyId": ARGS.access_key,
        "SecretAccessKey": ARGS.secret_key,
        "Token": ARGS.session_token,
        "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })
    return body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("metadata-emulator: " + (fmt % args) + "\n")

    def count(self):
        with LOCK:
            key = self.command + " " + self.path
            CALLS[key] = CALLS.get(key, 0) + 1

    def answer(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def credential_answer(self, body):
        if ARGS.fault == "hang":
            time.sleep(HANG_SECONDS)
            return
        if ARGS.fault == "500":
            return self.answer(500, "internal error")
        if ARGS.fault == "garbage":
            return self.answer(200, '{"AccessKeyId": "AKIA", "SecretAccessKey": [1, 2', "application/json")
        self.answer(200, json.dumps(body), "application/json")

    def do_PUT(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.count()
        if ARGS.mode != "imds" or self.path != IMDS_TOKEN_PATH:
            return self.answer(404, "not found")
        if ARGS.no_v2:
            return self.answer(405, "method not allowed")
        if self.headers.get("X-Forwarded-For"):
            return self.answer(403, "forbidden")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TOKEN_TTL:
            return self.answer(400, "bad request")
        token = secrets.token_urlsafe(32)
        with LOCK:
            TOKENS.add(token)
        self.answer(200, token)

    def do_GET(self):
        if self.path == "/__calls":
            with LOCK:
                return self.answer(200, json.dumps(CALLS), "application/json")
        self.count()
        if ARGS.mode == "ecs":
            return self.ecs()
        return self.imds()

    def ecs(self):
        if self.path != ARGS.path:
            return self.answer(404, "not found")
        if ARGS.auth_token and self.headers.get("Authorization") != ARGS.auth_token:
            return self.answer(401, "unauthorized")
        self.credential_answer(credentials({"RoleArn": "arn:aws:iam::123456789012:role/kache-test"}))

    def imds(self):
        token = self.headers.get("X-aws-ec2-metadata-token")
        with LOCK:
            valid = token in TOKENS
        if not valid and not (ARGS.imds_v1 and token is None):
            return self.answer(401, "unauthorized")
        if self.path == IMDS_ROLES_PATH:
            return self.answer(200, ARGS.role)
        if self.path == IMDS_ROLES_PATH + ARGS.role:
            now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            return self.credential_answer(credentials({"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC"}))
        self.answer(404, "not found")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    tmp = ARGS.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]) + "\n")
    os.rename(tmp, ARGS.ready_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
