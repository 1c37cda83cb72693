"""A webhook receiver on 127.0.0.1 for the alerts tests: it records what it is sent and answers as told.

A real HTTP server in a thread of the test (ports 8240-8259, the alerts tests' range), so deliveries
cross a socket as they do in production.
"""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = range(8240, 8260)


class Receiver:
    """Answers each POST with the next of `answers` (HTTP statuses), then 200 for good; records every request."""

    def __init__(self, answers=(), secret=""):
        self.answers = list(answers)
        self.secret = secret
        self.requests = []  # (status answered, headers, body bytes)
        self.lock = threading.Lock()
        self.server = self.bind()
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-receiver", daemon=True)

    def bind(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.requests.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        for port in PORTS:
            try:
                return ThreadingHTTPServer(("127.0.0.1", port), Handler)
            except OSError:
                continue
        raise RuntimeError(f"no free port in {PORTS}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def accepted(self):
        """The bodies (parsed) the receiver accepted with a 2xx, in order."""
        with self.lock:
            return [json.loads(body) for status, _, body in self.requests if 200 <= status < 300]

    def verified(self, headers, body):
        """What a receiver does with the signature header: recompute the HMAC and compare in constant time."""
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers.get("X-Dc43-Signature", ""))
