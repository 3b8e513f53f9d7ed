"""JSON replies the routes and middlewares share: errors, 401, 413."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types

REALM = 'Basic realm="recorder-ha-controller", charset="UTF-8"'


def json_reply(status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=payload,
        headers=headers,
    )


def error_reply(status: int, message: str, **extra: Any) -> Response:
    return json_reply(status, {"error": message, **extra})


def raw_error(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    """An error as a finished v2 response, for what answers before the resolver runs."""
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", **(headers or {})},
        "body": json.dumps({"error": message, **extra}, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, str]]]:
    """Turns pydantic's error list into one sentence naming each problem, plus the details.

    Our own validators (error types `ha_*`) already write whole sentences that name the field.
    """
    details = []
    for item in errors:
        kind = item.get("type", "")
        field = ".".join(str(p) for p in item.get("loc", ()) if p not in ("body", "path", "query"))
        if kind == "json_invalid":
            reason = (item.get("ctx") or {}).get("error")
            field, problem = "", "request body is not valid JSON" + (f" ({reason})" if reason else "")
        elif kind == "missing" and not field:
            problem = "a JSON request body is required"
        elif kind in ("model_attributes_type", "model_type", "dict_type") and not field:
            problem = "request body must be a JSON object"
        elif kind == "extra_forbidden":
            problem = "is not a known field"
        else:
            problem = item.get("msg", "is not valid")
        if kind.startswith("ha_"):
            field = ""
        details.append({"field": field, "problem": problem})
    sentence = "; ".join(f"{d['field']}: {d['problem']}" if d["field"] else d["problem"] for d in details)
    return sentence, details
