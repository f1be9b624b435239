#!/usr/bin/env python3
"""sts-emulator.py: a small stand-in for AWS STS on loopback, for the credential-chain tests.

AWS STS cannot be reached from the test machines, so this answers the two calls kache makes
the way STS documents them (GET query-string form, Version=2011-06-15, XML answers):

  AssumeRoleWithWebIdentity  unsigned; WebIdentityToken must equal --token, else 403
                             <ErrorResponse> with Code AccessDenied (InvalidIdentityToken).
  AssumeRole                 must carry a SigV4 Authorization header whose Credential names
                             --source-access-key and whose scope's service is "sts", else 403.

Both hand out --access-key / --secret-key / --session-token with Expiration = now +
--expires-in seconds. GET /__calls answers the number of successful calls so far (all, or of
one action with ?action=AssumeRole); /__calls?all=1 counts refused ones too.

  python3 sts-emulator.py --ready-file F --access-key ASIA... --secret-key S \\
      --session-token T --token TOKEN --source-access-key AKID --expires-in 3600 &
  # F then holds the URL "http://127.0.0.1:PORT"

Binds 127.0.0.1 only, port 0 (the kernel picks one) unless --port says otherwise.
"""
import argparse
import datetime
import http.server
import os
import re
import sys
import threading
import urllib.parse
from xml.sax.saxutils import escape

NS = "https://sts.amazonaws.com/doc/2011-06-15/"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ready-file", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--access-key", required=True)
    ap.add_argument("--secret-key", required=True)
    ap.add_argument("--session-token", default="FwoGZXIvYXdzEmulatedSessionToken")
    ap.add_argument("--token", default="", help="the web identity token to accept")
    ap.add_argument("--source-access-key", default="", help="the key AssumeRole must be signed with")
    ap.add_argument("--expires-in", type=int, default=3600)
    args = ap.parse_args()

    lock = threading.Lock()
    calls = {"ok": {}, "all": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            sys.stderr.write("sts-emulator: " + (fmt % a) + "\n")

        def send(self, status, body, ctype="text/xml"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, status, code, message):
            self.send(status, '<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code>'
                              "<Message>%s</Message></Error><RequestId>emulated</RequestId></ErrorResponse>"
                      % (NS, escape(code), escape(message)))

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            if url.path == "/__calls":
                with lock:
                    if "all" in q:
                        n = calls["all"]
                    elif "action" in q:
                        n = calls["ok"].get(q["action"], 0)
                    else:
                        n = sum(calls["ok"].values())
                self.send(200, "%d\n" % n, "text/plain")
                return
            action = q.get("Action", "")
            with lock:
                calls["all"] += 1
            if q.get("Version") != "2011-06-15":
                return self.error(400, "InvalidAction", "Version must be 2011-06-15")
            if not q.get("RoleArn") or not q.get("RoleSessionName"):
                return self.error(400, "MissingParameter", "RoleArn and RoleSessionName are required")
            if action == "AssumeRoleWithWebIdentity":
                if q.get("WebIdentityToken", "") != args.token:
                    return self.error(403, "InvalidIdentityToken", "The web identity token is not valid")
            elif action == "AssumeRole":
                auth = self.headers.get("Authorization", "")
                m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/aws4_request, "
                             r"SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$", auth)
                if not m:
                    return self.error(403, "MissingAuthenticationToken", "The request must be signed")
                if m.group(1) != args.source_access_key or m.group(2) != "sts":
                    return self.error(403, "InvalidClientTokenId", "The security token included is invalid")
            else:
                return self.error(400, "InvalidAction", "unsupported action " + action)
            with lock:
                calls["ok"][action] = calls["ok"].get(action, 0) + 1
            exp = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=args.expires_in)
            self.send(200, '<%sResponse xmlns="%s"><%sResult><Credentials>'
                           "<AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
                           "<SessionToken>%s</SessionToken><Expiration>%s</Expiration>"
                           "</Credentials><AssumedRoleUser><Arn>%s/%s</Arn></AssumedRoleUser></%sResult>"
                           "<ResponseMetadata><RequestId>emulated</RequestId></ResponseMetadata></%sResponse>"
                      % (action, NS, action, escape(args.access_key), escape(args.secret_key),
                         escape(args.session_token), exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         escape(q["RoleArn"]), escape(q["RoleSessionName"]), action, action))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("http://127.0.0.1:%d\n" % server.server_address[1])
    os.rename(tmp, args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
