#!/usr/bin/env python3
"""Opens many TCP connections to a server and holds them, silent (or sending a partial request
header), to see what the server does with connections that never send a request.

Prints one JSON line once every connection is opened ({"opened": N}), then, after --hold
seconds, one more: how many the server closed, and the times (seconds after opening) at which
it closed them.

    python3 tests/support/hold_connections.py --port 9860 --count 1200 --hold 5
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--hold", type=float, required=True)
    parser.add_argument("--partial", action="store_true", help="send the start of a request header")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.count + 64)), hard))

    selector = selectors.DefaultSelector()
    opened_at = {}
    for _ in range(args.count):
        try:
            sock = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        except OSError as error:
            print(json.dumps({"error": str(error), "opened": len(opened_at)}), flush=True)
            break
        if args.partial:
            sock.sendall(b"GET /metrics HTTP/1.1\r\n")
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        opened_at[sock] = time.monotonic()
    print(json.dumps({"opened": len(opened_at)}), flush=True)

    closed = []
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline and len(closed) < len(opened_at):
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            sock = key.fileobj
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                closed.append(round(time.monotonic() - opened_at[sock], 2))
                selector.unregister(sock)
                sock.close()
    print(json.dumps({"opened": len(opened_at), "closed": len(closed), "closed_after": sorted(closed)}), flush=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
