"""The gate in front of the resolver: body size, HTTP Basic auth on /api/** (health excepted) and on
the operator console (/console), JSON.

It runs before `resolve` because powertools validates the body before any middleware it
runs: a stranger's malformed request must get 401, not a 400 describing our schema.
"""

from __future__ import annotations

import base64
from typing import Any

from api.replies import REALM, raw_error
from hacore.auth import CredentialSource, verify_basic

PUBLIC_API_PATHS = frozenset({"/api/sessions/health"})


def requires_auth(path: str) -> bool:
    if path == "/console" or path.startswith("/console/"):
        return True
    return path.startswith("/api/") and path.rstrip("/") not in PUBLIC_API_PATHS


def _header(event: dict[str, Any], name: str) -> str | None:
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == name), None)


def gate(event: dict[str, Any], credentials: CredentialSource, max_body_bytes: int) -> dict[str, Any] | None:
    """A refusal (413 or 401) as a v2 response, or None to let the request through."""
    path = event.get("rawPath") or ""
    body = event.get("body") or ""
    raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    size = len(raw)
    if size > max_body_bytes:
        return raw_error(413, f"request body is {size} bytes; the limit is {max_body_bytes} bytes")
    if requires_auth(path) and not verify_basic(_header(event, "authorization"), credentials.get()):
        return raw_error(
            401,
            "authentication required: HTTP Basic with the controller's credentials",
            {"WWW-Authenticate": REALM},
        )
    if event.get("isBase64Encoded") and not _utf8(raw):
        # JSON is UTF-8 text; API Gateway passes other bytes base64-encoded, and they are refused here
        return _bad_body("request body is not valid JSON: it is not UTF-8 text")
    if raw.lstrip()[:1] == b"[":
        # every body here is an object; powertools would take an array's first element for it
        return _bad_body("request body must be a JSON object, not an array")
    if body and requires_auth(path):
        # The API speaks JSON whatever Content-Type says: `curl -d` sends form encoding and
        # recorders in the field may send text/plain; the original read JSON regardless.
        headers = {k: v for k, v in (event.get("headers") or {}).items() if k.lower() != "content-type"}
        event["headers"] = headers | {"content-type": "application/json"}
    return None


def _bad_body(problem: str) -> dict[str, Any]:
    """A 400 shaped as the validator's are: the sentence, and the details list."""
    return raw_error(400, problem, details=[{"field": "", "problem": problem}])


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
