"""The customer's endpoint, for the webhook benches: a real HTTP server on localhost that refuses
what `refuse()` says (503) and takes the rest, counting each webhook-id's acceptances so a bench
can tell "delivered once" from "delivered twice"."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class BenchReceiver:
    def __init__(self, refuse: Callable[[], bool]) -> None:
        self.refuse = refuse
        self.lock = threading.Lock()
        self.accepted: dict[str, int] = {}  # webhook-id -> acceptances
        self.first: list[dict[str, Any]] = []  # each webhook's body, at its first acceptance, in order
        self.refused = 0
        self.last_delivery = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    refused = receiver.refuse()
                    if refused:
                        receiver.refused += 1
                    else:
                        key = self.headers.get("webhook-id", "")
                        receiver.accepted[key] = receiver.accepted.get(key, 0) + 1
                        if receiver.accepted[key] == 1:
                            receiver.first.append(json.loads(body))
                        receiver.last_delivery = time.monotonic()
                self.send_response(503 if refused else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def duplicates(self) -> int:
        return sum(count - 1 for count in self.accepted.values() if count > 1)
