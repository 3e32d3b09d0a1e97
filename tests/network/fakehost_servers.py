#!/usr/bin/python3
"""Servers of the "fakehost" network namespace (tests/network/fakehost_test.cc); run only inside
a network namespace the test created. Serves, until killed:
  - HTTP on 198.51.100.1:8080 ("outside"): GET / answers "outside-ok\n", GET /big?n=BYTES
    answers n zero bytes (the throughput benchmark);
  - HTTP on 127.0.0.1:8081 ("secret", fakehost's loopback): answers "secret-reached\n";
  - DNS (UDP) on 198.51.100.1:53: mirror.test A 198.51.100.1, anything else NXDOMAIN;
  - an abstract Unix socket "@kiln-fakehost-secret".
Writes "ready" to stdout once all are listening."""
import http.server
import socket
import struct
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        if self.path.startswith("/big?n="):
            n = int(self.path.split("=", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            chunk = b"\0" * 65536
            while n > 0:
                self.wfile.write(chunk[: min(n, len(chunk))])
                n -= min(n, len(chunk))
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def http_server(addr, port, body):
    handler = type("H", (Handler,), {"body": body})
    server = http.server.ThreadingHTTPServer((addr, port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def dns_server():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("198.51.100.1", 53))

    def serve():
        while True:
            data, peer = sock.recvfrom(512)
            if len(data) < 12:
                continue
            qid, = struct.unpack("!H", data[:2])
            i, labels = 12, []
            while i < len(data) and data[i] != 0:
                labels.append(data[i + 1 : i + 1 + data[i]].decode("ascii", "replace"))
                i += 1 + data[i]
            question = data[12 : i + 5]
            qtype, = struct.unpack("!H", data[i + 1 : i + 3]) if i + 3 <= len(data) else (0,)
            name = ".".join(labels).lower()
            found = name == "mirror.test"
            answers = b""
            if found and qtype == 1:
                answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton(
                    "198.51.100.1")
            flags = 0x8180 if found else 0x8183
            header = struct.pack("!HHHHHH", qid, flags, 1, 1 if answers else 0, 0, 0)
            sock.sendto(header + question + answers, peer)

    threading.Thread(target=serve, daemon=True).start()


def abstract_socket():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind("\0kiln-fakehost-secret")
    sock.listen(4)
    return sock


http_server("198.51.100.1", 8080, b"outside-ok\n")
http_server("127.0.0.1", 8081, b"secret-reached\n")
dns_server()
keep = abstract_socket()
print("ready", flush=True)
threading.Event().wait()
