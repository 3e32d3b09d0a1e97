#!/usr/bin/python3
"""A tiny Bearer token endpoint for the registry tests (the registry runs `silly` auth, which
accepts any token). Prints its port on the first stdout line, then serves until killed.
Every request is appended to LOG (argv[1]) as one JSON line: method, path, query, whether a
Basic Authorization header came and its user, and the form body of a POST."""
import base64
import http.server
import json
import sys
import urllib.parse

LOG = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, body):
        url = urllib.parse.urlparse(self.path)
        auth = self.headers.get("Authorization", "")
        user = ""
        if auth.startswith("Basic "):
            user = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        entry = {"method": self.command, "path": url.path,
                 "query": urllib.parse.parse_qs(url.query), "basic_user": user,
                 "form": urllib.parse.parse_qs(body)}
        with open(LOG, "a") as f:
            f.write(json.dumps(entry) + "\n")

    def reply(self):
        data = json.dumps({"token": "kiln-test-token", "expires_in": 300}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.record("")
        self.reply()

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.record(self.rfile.read(n).decode())
        self.reply()


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
