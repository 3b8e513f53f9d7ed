"""An HTTP server that plays API Gateway's part: routes from template.yaml, v2.0 events, real handlers.

Routing follows the template's HttpApi events (exact paths before `{param}` paths before
`{proxy+}`), so a route missing from the template is missing locally too.
"""

from __future__ import annotations

import importlib
import importlib.util
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
    """The template's routes, each bound to its function's handler.

    Lambda runs one event at a time in an execution environment and starts another environment
    for a concurrent event; handlers are written for that (powertools' resolver keeps the event
    it answers on the instance). So does `invoke`: each function has a pool of environments,
    each its own load of the handler's module; an event takes an idle one or a new one. Two
    threads in one resolver answered a request with another's route (a 500 from `KeyError:
    '_route'` with sixteen recorders beating); one environment per function deadlocked a request
    that waits for another (a takeover waiting for a warm standby to accept through the API).
    """

    def __init__(self, template: Template) -> None:
        self._template = template
        self.routes = sorted(
            (Route(fn, method, path, compile_path(path)) for fn, method, path in template.http_routes()),
            key=lambda r: r.specificity,
        )
        self._handlers: dict[str, Handler] = {}
        self._idle: dict[str, list[Handler]] = {}
        self._lock = threading.Lock()

    def match(self, method: str, path: str) -> Route | None:
        return next((r for r in self.routes if r.matches(method, path)), None)

    def handler(self, function: str) -> Handler:
        """The function's first environment (the module as imported): the schedules' and queues'."""
        with self._lock:
            if function not in self._handlers:
                module_name, _, attribute = self._template.handler(function).rpartition(".")
                self._handlers[function] = getattr(importlib.import_module(module_name), attribute)
                self._idle[function] = [self._handlers[function]]
            return self._handlers[function]

    def invoke(self, function: str, event: dict, context: Any) -> dict:
        """One event in an idle environment of the function, or in a new one (a cold start)."""
        self.handler(function)
        with self._lock:
            idle = self._idle[function]
            environment = idle.pop() if idle else None
        if environment is None:
            environment = self._new_environment(function)
        try:
            return environment(event, context)
        finally:
            with self._lock:
                self._idle[function].append(environment)

    def _new_environment(self, function: str) -> Handler:
        """The handler's module loaded again, apart from the others: its own module-level state."""
        module_name, _, attribute = self._template.handler(function).rpartition(".")
        spec = importlib.util.find_spec(module_name)
        if spec is None or spec.loader is None:
            raise ImportError(f"no module {module_name} for {function}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        log.info("a new execution environment of %s (concurrent events)", function)
        return getattr(module, attribute)


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
