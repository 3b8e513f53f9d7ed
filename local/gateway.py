"""An HTTP server that plays API Gateway's part: routes from template.yaml, v2.0 events, real handlers.

Routing follows the template's HttpApi events (exact paths before `{param}` paths before
`{proxy+}`), so a route missing from the template is missing locally too.
"""

from __future__ import annotations

import importlib
import logging
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.apigw import LocalContext, http_api_event, response_parts
from local.template import Template

log = logging.getLogger("local.gateway")

API_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # HTTP API's own payload limit

Handler = Callable[[dict, Any], dict]


@dataclass(frozen=True)
class Route:
    function: str
    method: str
    path: str
    pattern: re.Pattern[str]

    @property
    def specificity(self) -> tuple[int, int, int]:
        greedy = "+}" in self.path
        params = self.path.count("{")
        return (0 if not params else 2 if greedy else 1, -len(self.path), 0 if self.method != "ANY" else 1)

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("ANY", method) and bool(self.pattern.fullmatch(path))


def compile_path(path: str) -> re.Pattern[str]:
    regex = ""
    for part in re.split(r"(\{[^}]+\})", path):
        if part.startswith("{") and part.endswith("+}"):
            regex += ".+"
        elif part.startswith("{"):
            regex += "[^/]+"
        else:
            regex += re.escape(part)
    return re.compile(regex)


class Router:
    """The template's routes, each bound to its function's handler (imported on first use).

    A Lambda execution environment takes one event at a time, and handlers are written for that:
    powertools' resolver keeps the current event and its route on the instance. So `invoke` runs
    one event per function at a time; letting two threads into one resolver answered a request
    with another's route (seen: a 500 from `KeyError: '_route'` with sixteen recorders beating).
    """

    def __init__(self, template: Template) -> None:
        self._template = template
        self.routes = sorted(
            (Route(fn, method, path, compile_path(path)) for fn, method, path in template.http_routes()),
            key=lambda r: r.specificity,
        )
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._environments: dict[str, threading.Lock] = {}

    def match(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(method, path)), None)

    def handler(self, function: str) -> Handler:
        with self._lock:
            if function not in self._handlers:
                module_name, _, attribute = self._template.handler(function).rpartition(".")
                self._handlers[function] = getattr(importlib.import_module(module_name), attribute)
            return self._handlers[function]

    def invoke(self, function: str, event: dict, context: Any) -> dict:
        """One event through the function's handler, in its one execution environment."""
        handler = self.handler(function)
        with self._lock:
            environment = self._environments.setdefault(function, threading.Lock())
        with environment:
            return handler(event, context)


def make_server(router: Router, host: str, port: int) -> ThreadingHTTPServer:
    class GatewayRequest(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "ovha-local-gateway"

        def setup(self) -> None:
            super().setup()
            # Headers and body go out as separate writes: without this, Nagle's algorithm and
            # the client's delayed ACK add ~40 ms to every keep-alive request.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_any(self) -> None:
            raw_path, _, raw_query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            if length > API_GATEWAY_MAX_BODY:
                self._reply(
                    413, [("content-type", "application/json")], b'{"message":"Request Entity Too Large"}'
                )
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            route = router.match(self.command, raw_path)
            if route is None:
                self._reply(404, [("content-type", "application/json")], b'{"message":"Not Found"}')
                return
            event = http_api_event(
                self.command,
                raw_path,
                raw_query,
                self.headers.items(),
                body,
                self.client_address[0],
                route_key=f"{route.method} {route.path}",
            )
            try:
                result = router.invoke(route.function, event, LocalContext(route.function))
                status, headers, payload = response_parts(result)
            except Exception:  # what API Gateway says when the integration fails
                log.exception("handler %s failed", route.function)
                status, headers, payload = (
                    500,
                    [("content-type", "application/json")],
                    (b'{"message":"Internal Server Error"}'),
                )
            self._reply(status, headers, payload)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_any

        def __getattr__(self, name: str) -> Any:
            """Any other method (TRACE, CONNECT, a made-up one) is routed like these: to the
            function whose ANY route takes the path (which answers 405), else 404 as API Gateway
            answers; never http.server's 501."""
            if name.startswith("do_"):
                return self.do_any
            raise AttributeError(name)

        def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes) -> None:
            if status in (204, 304):
                payload = b""  # HTTP has no body here: one sent anyway corrupts a kept-alive connection
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s - %s", self.address_string(), format % args)

    return GatewayServer((host, port), GatewayRequest)


class GatewayServer(ThreadingHTTPServer):
    """A thread per connection. The listen backlog is API Gateway-like, not socketserver's 5: twenty
    recorders connecting at once must queue, not be reset."""

    daemon_threads = True
    # API Gateway never refuses a connection; a burst of clients (a fleet registering at once)
    # waits in the backlog here instead of being reset
    request_queue_size = 1024
