#!/usr/bin/env python3
"""A fake Prometheus HTTP API for faults a real Prometheus cannot be made to produce on
demand: stalling past the client's timeout, or answering a malformed body. Otherwise it
forwards every request to a real Prometheus. Each request's path and headers are recorded in
DIR/requests.jsonl (to check tenant headers and path prefixes).

The behaviour is read from --mode-file at each request:
    proxy URL   forward to the real Prometheus at URL (the default when the file is empty)
    slow        accept, then answer nothing for 60 s
    garbage     answer 200 with a body that is not the API's JSON

    python3 tests/support/fake_prometheus.py --port 9999 --mode-file /tmp/mode
"""
import argparse
import json
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode-file", required=True)
    parser.add_argument("--dir", help="where requests.jsonl records each request's path and headers")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if args.dir:
                os.makedirs(args.dir, exist_ok=True)
                with open(os.path.join(args.dir, "requests.jsonl"), "a") as f:
                    f.write(json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")
            try:
                mode = open(args.mode_file).read().strip()
            except OSError:
                mode = ""
            if mode == "slow":
                time.sleep(60)
                return
            if mode == "garbage":
                body = b'{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[17'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            upstream = mode.split(" ", 1)[1] if mode.startswith("proxy ") else None
            if upstream is None:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            try:
                with urllib.request.urlopen(upstream + self.path, timeout=30) as response:
                    status, body = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, body = error.code, error.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":
    main()
