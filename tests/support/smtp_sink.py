#!/usr/bin/python3
"""A real SMTP server on loopback for the tests (aiosmtpd, Debian's python3-aiosmtpd).

Each message received is saved as N.eml (the raw bytes) and N.json (envelope, TLS, user) in
--dir. Prints READY on stdout once listening; stops on SIGTERM.

    /usr/bin/python3 tests/support/smtp_sink.py --port 2525 --dir /tmp/mail
        [--cert CERT --key KEY [--smtps]] [--auth USER:PASSWORD]

With --cert/--key it offers STARTTLS and requires it before MAIL; with --smtps it speaks TLS
from the first byte instead. With --auth, AUTH (PLAIN, LOGIN) is required.
"""
import argparse
import json
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Saver:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        base = os.path.join(self.directory, f"{n:04d}")
        tls = server.transport.get_extra_info("ssl_object") is not None
        user = session.auth_data.login.decode() if session.auth_data else None
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "tls": tls, "user": user}, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--smtps", action="store_true")
    parser.add_argument("--auth")
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    options = {}
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login.decode() == user and auth_data.password.decode() == password
            return AuthResult(success=ok, auth_data=auth_data if ok else None)

        options.update(authenticator=authenticator, auth_required=True)
    if context is not None and args.smtps:
        # Implicit TLS: AUTH must not wait for a STARTTLS that never comes.
        controller = Controller(Saver(args.dir), hostname="127.0.0.1", port=args.port,
                                ssl_context=context, auth_require_tls=False, **options)
    elif context is not None:
        controller = Controller(Saver(args.dir), hostname="127.0.0.1", port=args.port,
                                tls_context=context, require_starttls=True, **options)
    else:
        controller = Controller(Saver(args.dir), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("READY", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
