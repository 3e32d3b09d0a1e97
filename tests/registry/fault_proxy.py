#!/usr/bin/python3
"""A fault-injecting HTTP proxy in front of a test registry. Usage:
  fault_proxy.py UPSTREAM_PORT LOG MODE[,MODE...] [USER:PASSWORD]
Prints its port on the first stdout line. Modes:
  corrupt      flip one byte in the middle of every blob GET body
  cut          the first blob GET sends half the body and closes the connection
  ignore-range answer ranged blob GETs with 200 and the whole body
  429          the first 2 requests get 429 with Retry-After: 1
  schema1      manifest GETs answer with a schema 1 Content-Type
  bigmanifest  manifest GETs answer with a 5 MiB body
  redirect     blob GETs answer 307 to this proxy's /redirected/ path as localhost (another host)
USER:PASSWORD is sent upstream (Basic) for redirected requests, which must arrive without one.
Every request is appended to LOG as a JSON line: method, path, host, range, has_auth."""
import base64
import http.client
import http.server
import json
import sys
import threading

UPSTREAM = int(sys.argv[1])
LOG = sys.argv[2]
MODES = set(sys.argv[3].split(",")) if len(sys.argv) > 3 and sys.argv[3] else set()
UPSTREAM_AUTH = sys.argv[4] if len(sys.argv) > 4 else ""
state = {"requests": 0, "cut_done": False}
lock = threading.Lock()


def is_blob_get(method, path):
    return method == "GET" and "/blobs/sha256:" in path


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self):
        with open(LOG, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "host": self.headers.get("Host", ""),
                                "range": self.headers.get("Range", ""),
                                "has_auth": "Authorization" in self.headers}) + "\n")

    def send_body(self, status, headers, body, length=None):
        if self.command == "HEAD" and length is None:  # the upstream's length, not the empty body's
            length = next((v for k, v in headers if k.lower() == "content-length"), len(body))
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if n else None
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        path = self.path
        if path.startswith("/redirected"):
            path = path[len("/redirected"):]
            if UPSTREAM_AUTH:
                headers["Authorization"] = "Basic " + base64.b64encode(
                    UPSTREAM_AUTH.encode()).decode()
        if "ignore-range" in MODES:
            headers.pop("Range", None)
        conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM)
        conn.request(self.command, path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, resp.getheaders(), data

    def handle_any(self):
        self.record()
        with lock:
            state["requests"] += 1
            count = state["requests"]
        if "429" in MODES and count <= 2:
            return self.send_body(429, [("Retry-After", "1")],
                                  b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}')
        blob = is_blob_get(self.command, self.path)
        if "redirect" in MODES and blob and not self.path.startswith("/redirected"):
            port = self.server.server_address[1]
            loc = "http://localhost:%d/redirected%s" % (port, self.path)
            return self.send_body(307, [("Location", loc)], b"")
        status, headers, data = self.forward()
        if self.command == "GET" and "/manifests/" in self.path and status == 200:
            if "schema1" in MODES:
                headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
                headers.append(("Content-Type",
                                "application/vnd.docker.distribution.manifest.v1+prettyjws"))
            if "bigmanifest" in MODES:
                data = b" " * (5 << 20)
                headers = [(k, v) for k, v in headers if k.lower() != "docker-content-digest"]
        if blob and status in (200, 206) and len(data) > 1:
            if "corrupt" in MODES:
                mid = len(data) // 2
                data = data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1:]
            if "cut" in MODES:
                with lock:
                    cut = not state["cut_done"]
                    state["cut_done"] = True
                if cut:
                    self.send_response(status)
                    for k, v in headers:
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
        self.send_body(status, headers, data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = handle_any


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
