#!/usr/bin/env python3
"""A webhook receiver for benchmarks: `receiver.py PORT ok` answers 204 at
once (and counts what it got); `receiver.py PORT hang` accepts connections
and never answers, like an endpoint that died behind a load balancer.
A dead endpoint needs no program: point LIVECHAT_BENCH_WEBHOOK at a closed port."""
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, mode = int(sys.argv[1]), sys.argv[2]
if mode == "hang":
    held = []
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(1024)
    while True:
        conn, _ = server.accept()
        held.append(conn)
else:
    count = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            global count
            self.rfile.read(int(self.headers.get("content-length", 0)))
            with lock:
                count += 1
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
