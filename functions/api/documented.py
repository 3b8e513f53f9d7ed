"""The resolver whose OpenAPI document tells the truth, and which answers 405 for a wrong method.

powertools documents what each route declares, plus a 422 for request validation; this API
answers 400 there (the original did). Codes the gate in front of the resolver answers (401 on
/api/**, 413 for a body over the limit) are declared here from the same rules the gate uses,
so the document cannot drift from them. Route-specific refusals (404, 409, 503 ...) are
declared at each route with `declared()`. A schemathesis run in the test suite holds the
document to what the API really answers.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel, ConfigDict, Field

from api.middleware import requires_auth
from api.replies import raw_error

ERROR = "ErrorReply"
ERROR_REF = f"#/components/schemas/{ERROR}"
BASIC_AUTH = "basicAuth"


class ErrorReply(BaseModel):
    """Every refusal: one sentence naming the problem, and fields that help (sessionId, details ...)."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="what is wrong, in one sentence")


def refusal(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}}


def either(description: str, *schemas: str) -> dict[str, Any]:
    """A reply whose JSON body is one of these components (a route's own model, or the error)."""
    refs = [{"$ref": f"#/components/schemas/{name}"} for name in schemas]
    return {"description": description, "content": {"application/json": {"schema": {"anyOf": refs}}}}


def declared(
    ok: int = 200,
    description: str = "Done",
    refusals: dict[int, str] | None = None,
    **others: dict[str, Any],
) -> dict[int, Any]:
    """A route's `responses`: its success (the body its return annotation says) and its refusals.

    `others` are further replies in full, keyed `r204`, `r502` ...: a body other than the error's.
    """
    responses: dict[int, Any] = {ok: {"description": description}}
    responses |= {code: refusal(why) for code, why in (refusals or {}).items()}
    responses |= {int(key.removeprefix("r")): reply for key, reply in others.items()}
    return responses


# Where an id a later call needs comes from: (method, path, status) -> (the path parameter, where
# in the reply or request it is). Each becomes an OpenAPI link to every operation on that
# parameter, so a client (or schemathesis's stateful phase) can follow a registration to its
# session's routes, a takeover to its live backup, a standby's registration to its assignment.
LINK_SOURCES: dict[tuple[str, str, str], tuple[str, str]] = {
    ("post", "/api/sessions", "201"): ("sessionId", "$response.body#/sessionId"),
    ("post", "/api/failover/{sessionId}", "202"): ("sessionId", "$request.path.sessionId"),
    ("post", "/api/standbys", "201"): ("standbyId", "$response.body#/standbyId"),
}


def links(document: dict[str, Any]) -> None:
    """Adds the links of `LINK_SOURCES` to the document's replies (see there)."""
    paths = document.get("paths", {})
    for (method, path, status), (parameter, source) in LINK_SOURCES.items():
        reply = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if reply is None:
            continue
        targets = {
            operation["operationId"]: {
                "operationId": operation["operationId"],
                "parameters": {parameter: source},
            }
            for target, operations in paths.items()
            if "{" + parameter + "}" in target
            for operation in operations.values()
            if operation.get("operationId") and (target, operation) != (path, paths[path][method])
        }
        reply.setdefault("links", {}).update(targets)


def gate_replies(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    """What the gate and the validator answer for this operation, before any route code runs."""
    replies: dict[str, Any] = {}
    has_body = "requestBody" in operation
    if has_body or operation.get("parameters"):
        replies["400"] = refusal("The request is not valid: the message names each problem")
    if requires_auth(path):
        replies["401"] = refusal("No credentials, or wrong ones (HTTP Basic)")
    if has_body:
        replies["413"] = refusal("The body is over the size limit (HA_MAX_BODY_BYTES)")
    return replies


class DocumentedResolver(APIGatewayHttpResolver):
    def get_openapi_schema(self, **options: Any) -> Any:
        from aws_lambda_powertools.event_handler.openapi.models import HTTPBase, OpenAPI

        options["security_schemes"] = options.get("security_schemes") or {
            BASIC_AUTH: HTTPBase(scheme="basic")
        }
        document = super().get_openapi_schema(**options).model_dump(by_alias=True, exclude_none=True)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)  # the 422's body; ValidationError stays, the 500's uses it
        schemas["ErrorReply"] = ErrorReply.model_json_schema()
        for path, operations in document.get("paths", {}).items():
            for operation in operations.values():
                responses = {str(code): reply for code, reply in operation["responses"].items()}
                operation["responses"] = responses
                responses.pop("422", None)
                for code, reply in gate_replies(path, operation).items():
                    responses.setdefault(code, reply)
                if requires_auth(path):
                    operation["security"] = [{BASIC_AUTH: []}]
        links(document)
        return OpenAPI.model_validate(document)

    def resolve(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        method = ((event.get("requestContext") or {}).get("http") or {}).get("method", "")
        allowed = self.methods_of(event.get("rawPath") or "")
        if allowed and method not in allowed:
            path = event.get("rawPath")
            message = f"{method} is not allowed on {path}; it takes {', '.join(allowed)}"
            return raw_error(405, message, {"Allow": ", ".join(allowed)}, allowed=allowed)
        return super().resolve(event, context)

    def methods_of(self, path: str) -> list[str]:
        """The methods of the resource at this path, as the document lists them: a literal path
        (`/api/sessions/all`) is its own resource, never also `/api/sessions/{sessionId}`."""
        for routes in (self._static_routes, self._dynamic_routes):
            methods = {route.method for route in routes if route.rule.match(path)}
            if methods:
                return sorted(methods)
        return []
