#!/usr/bin/env python3
"""A fake Prometheus HTTP API for faults a real Prometheus cannot be made to produce on
demand: stalling past the client's timeout, answering a malformed body, or answering the way
Thanos, Mimir and Cortex do when a store is unavailable or a tenant is rate-limited (429 with
Retry-After). Otherwise it forwards every request to a real Prometheus. Each request's time,
path and headers are recorded in DIR/requests.jsonl (to check tenant headers, path prefixes
and how long a client waited between attempts).

The behaviour is read from --mode-file at each request:
    proxy URL   forward to the real Prometheus at URL (the default when the file is empty)
    slow        accept, then answer nothing for 60 s
    garbage     answer 200 with a body that is not the API's JSON
    {JSON}      answer {"status": 429, "headers": {"Retry-After": "2"}, "body": "..."} for the
                next "times" requests (all when absent), then behave as the mode in "then"

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

    # How many requests the current JSON mode has answered (reset when the mode changes).
    answered = {"mode": None, "count": 0}
    lock = threading.Lock()

    def scripted(mode):
        """The mode to follow for this request: a JSON answer while it has turns left."""
        while mode.startswith("{"):
            spec = json.loads(mode)
            with lock:
                if answered["mode"] != mode:
                    answered["mode"], answered["count"] = mode, 0
                turn = answered["count"]
                answered["count"] += 1
            if "times" not in spec or turn < spec["times"]:
                return spec
            mode = spec.get("then", "")
        return mode

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if args.dir:
                os.makedirs(args.dir, exist_ok=True)
                with open(os.path.join(args.dir, "requests.jsonl"), "a") as f:
                    f.write(json.dumps({"time": time.time(), "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}) + "\n")
            try:
                mode = open(args.mode_file).read().strip()
            except OSError:
                mode = ""
            mode = scripted(mode)
            if isinstance(mode, dict):
                body = mode.get("body", "").encode()
                self.send_response(mode["status"])
                for name, value in mode.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json" if body.startswith(b"{") else "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
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
