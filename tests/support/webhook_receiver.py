#!/usr/bin/env python3
"""A real HTTP webhook receiver on loopback for the tests (Python's http.server).

Each POST is saved as N.json in --dir: {"path", "headers", "body"} (body as text).
Answers --status (default 200). Prints READY once listening; stops on SIGTERM.

    python3 tests/support/webhook_receiver.py --port 8080 --dir /tmp/hooks
"""
import argparse
import json
import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--status", type=int, default=200)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    lock = threading.Lock()
    counter = [0]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if args.status < 300:
                with lock:
                    counter[0] += 1
                    n = counter[0]
                record = {
                    "path": self.path,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": body.decode("utf-8"),
                }
                tmp = os.path.join(args.dir, f"{n:04d}.tmp")
                with open(tmp, "w") as f:
                    json.dump(record, f)
                os.rename(tmp, os.path.join(args.dir, f"{n:04d}.json"))
            self.send_response(args.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()
