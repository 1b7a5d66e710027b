#!/usr/bin/env python3
"""tokenserver.py - a registry token server for govc's tests (the Docker
Hub flow): GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...]
with HTTP Basic credentials answers {"token": JWT} signed RS256 by KEY,
whose x5c-less header names the key by its libtrust id, as
docker-registry's `auth: token` wants.  Wrong credentials: 401.  No
credentials: a token granting nothing.  A user given as
USER:PASSWORD=PREFIX is granted only repositories whose names start with
PREFIX (the other scopes asked for are left out of the token, as token
servers do).  Standard library and the openssl command only.

    tokenserver.py PORT KEY.pem CERT.pem ISSUER USER:PASSWORD[=PREFIX][,...] [LOG]
"""
import base64, hashlib, http.server, json, os, subprocess, sys, time, urllib.parse

port, key, cert, issuer, creds = sys.argv[1:6]
users = {}	# "user:password" -> the prefix its repositories must have
for c in creds.split(","):
    pair, _, prefix = c.partition("=")
    users[pair] = prefix
log = open(sys.argv[6], "a") if len(sys.argv) > 6 else None

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

pub = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"],
                     check=True, capture_output=True).stdout
der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                     check=True, capture_output=True).stdout
k = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
kid = ":".join(k[i:i + 4] for i in range(0, 48, 4))

def token(sub, prefix, service, scopes):
    now = int(time.time())
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) == 3 and sub and parts[1].startswith(prefix):
            access.append({"type": parts[0], "name": parts[1], "actions": parts[2].split(",")})
    head = b64(json.dumps({"typ": "JWT", "alg": "RS256", "kid": kid}).encode())
    body = b64(json.dumps({"iss": issuer, "sub": sub, "aud": service, "exp": now + 300,
                           "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(),
                           "access": access}).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key],
                         input=(head + "." + body).encode(), check=True,
                         capture_output=True).stdout
    return head + "." + body + "." + b64(sig)

class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        u = urllib.parse.urlparse(self.path)
        q = urllib.parse.parse_qs(u.query)
        auth = self.headers.get("Authorization", "")
        sub, prefix = "", ""
        if auth.startswith("Basic "):
            pair = base64.b64decode(auth[6:]).decode()
            if pair not in users:
                self.send_response(401)
                self.end_headers()
                return
            sub, prefix = pair.split(":")[0], users[pair]
        scopes = [s for v in q.get("scope", []) for s in v.split(" ")]
        if log:
            print("token", sub or "-", " ".join(scopes), file=log, flush=True)
        b = json.dumps({"token": token(sub, prefix, q.get("service", [""])[0], scopes),
                        "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

    def log_message(self, *a):
        pass

http.server.HTTPServer(("127.0.0.1", int(port)), H).serve_forever()
