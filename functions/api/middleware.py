"""Global middlewares: the body size limit and HTTP Basic auth on /api/** (health excepted)."""

from __future__ import annotations

import base64
from collections.abc import Callable

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from api.replies import error_reply, unauthorized
from hacore.auth import CredentialSource, verify_basic

PUBLIC_API_PATHS = frozenset({"/api/sessions/health"})

Middleware = Callable[[APIGatewayHttpResolver, NextMiddleware], Response]


def requires_auth(path: str) -> bool:
    return path.startswith("/api/") and path.rstrip("/") not in PUBLIC_API_PATHS


def body_limit(max_bytes: int) -> Middleware:
    def limit(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        event = app.current_event
        body = event.body or ""
        size = len(base64.b64decode(body)) if event.is_base64_encoded else len(body.encode())
        if size > max_bytes:
            return error_reply(413, f"request body is {size} bytes; the limit is {max_bytes} bytes")
        return next_middleware(app)

    return limit


def basic_auth(credentials: CredentialSource) -> Middleware:
    def authenticate(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        if requires_auth(app.current_event.path):
            header = app.current_event.headers.get("authorization")
            if not verify_basic(header, credentials.get()):
                return unauthorized()
        return next_middleware(app)

    return authenticate
