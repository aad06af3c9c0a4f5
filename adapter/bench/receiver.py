"""A local FHIR receiver for the delivery benchmark and tests: answers 201, or a transient 503 at a set rate.

It counts what it received by idempotency key (`X-Request-Id`), so a run can say how many
deliveries arrived, how many were repeats, and when each first arrived.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """A threaded HTTP server on 127.0.0.1 (an ephemeral port)."""

    def __init__(self, *, fail_rate: float = 0.0, delay_seconds: float = 0.0, seed: int = 1):
        self.fail_rate = fail_rate
        self.delay_seconds = delay_seconds
        self.counts: Counter[str] = Counter()
        self.first_seen: dict[str, float] = {}
        self.failures = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                key = self.headers.get("X-Request-Id", "")
                with receiver._lock:
                    fail = receiver._rng.random() < receiver.fail_rate
                    if fail:
                        receiver.failures += 1
                    else:
                        receiver.counts[key] += 1
                        receiver.first_seen.setdefault(key, time.time())
                self.send_response(503 if fail else 201)
                if fail:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        return Handler


class RecordingReceiver:
    """Keeps every JSON body POSTed to it, with its arrival time (e.g. subscription notifications); answers
    503 while `down` (a receiver away for a while), 200 otherwise."""

    def __init__(self):
        self.bodies: list[tuple[float, dict]] = []
        self.down = False
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 503 if receiver.down else 200
                if status == 200:
                    with receiver.lock:
                        receiver.bodies.append((time.time(), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def received(self) -> list[tuple[float, dict]]:
        with self.lock:
            return list(self.bodies)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
