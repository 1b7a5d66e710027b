#!/usr/bin/env python3
"""faultproxy.py - an HTTP proxy in front of a registry that misbehaves
on purpose, for govc's fault tests.  Standard library only.

    faultproxy.py PORT UPSTREAM(host:port) LOG FAULT...

FAULTs (each counted from the proxy's start):
    fail500=N     the first N blob GETs answer 500
    drop=BYTES    the first blob GET of more than BYTES sends BYTES of its
                  body, then hangs up
    bigmanifest   every manifest GET answers a 5 MiB body
    slow=BPS      blob bodies are sent at about BPS bytes a second each
LOG gets a line per request: method, path, Range, the status sent.
"""
import http.client, http.server, sys, time

port, upstream, logname = sys.argv[1:4]
faults = dict(f.split("=", 1) if "=" in f else (f, "1") for f in sys.argv[4:])
state = {"fail500": int(faults.get("fail500", 0)), "drop": int(faults.get("drop", -1))}
log = open(logname, "a")

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def note(self, status):
        print(self.command, self.path, self.headers.get("Range", "-"), status, file=log, flush=True)

    def forward(self):
        blob_get = self.command == "GET" and "/blobs/sha256:" in self.path
        if blob_get and state["fail500"] > 0:
            state["fail500"] -= 1
            self.note(500)
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self.command == "GET" and "/manifests/" in self.path and "bigmanifest" in faults:
            body = b'{"schemaVersion": 2, "pad": "' + b"x" * (5 << 20) + b'"}'
            self.note(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        n = int(self.headers.get("Content-Length", 0) or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection(upstream)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        self.note(r.status)
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v.replace("http://" + upstream, "http://127.0.0.1:" + port))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if blob_get and 0 <= state["drop"] < len(data) and r.status == 200:
            cut, state["drop"] = state["drop"], -1
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if self.command != "HEAD" and blob_get and "slow" in faults:
            piece = max(1, int(faults["slow"]) // 20)
            for i in range(0, len(data), piece):
                self.wfile.write(data[i:i + piece])
                self.wfile.flush()
                time.sleep(0.05)
            return
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = forward

    def log_message(self, *a):
        pass

http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H).serve_forever()
