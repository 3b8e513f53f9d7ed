"""The OpenAPI document and the API agree: what the document declares, what a wrong method gets,
and the JSON types a request must hold (tests/integration/test_openapi_fuzz.py fuzzes the whole)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import ApiClient, register_body


@pytest.fixture
def document(api: ApiClient) -> dict[str, Any]:
    return api.get("/v3/api-docs", auth=None).json


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in document["paths"].items() for m, op in ops.items()]


def test_validation_is_documented_as_the_400_it_is_never_as_powertools_422(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        assert "422" not in operation["responses"], f"{method} {path}"
        if "requestBody" in operation or operation.get("parameters"):
            assert operation["responses"]["400"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorReply"
            }
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_the_gates_refusals_are_documented_where_the_gate_answers_them(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["basicAuth"] == {"type": "http", "scheme": "basic"}
    for method, path, operation in operations(document):
        protected = path.startswith("/api/") and path != "/api/sessions/health"
        assert ("401" in operation["responses"]) is protected, f"{method} {path}"
        assert (operation.get("security") == [{"basicAuth": []}]) is protected, f"{method} {path}"
        assert ("413" in operation["responses"]) is ("requestBody" in operation), f"{method} {path}"


def test_each_route_declares_its_own_replies(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert set(paths["/api/sessions"]["post"]["responses"]) >= {"201", "400", "401", "413"}
    assert "200" not in paths["/api/sessions"]["post"]["responses"]
    assert set(paths["/api/sessions/{sessionId}/heartbeat"]["put"]["responses"]) >= {
        "200",
        "404",
        "409",
        "503",
    }
    assert set(paths["/api/failover/{sessionId}"]["post"]["responses"]) >= {"202", "404", "409", "502"}
    poll = paths["/api/standbys/{standbyId}/assignment"]["get"]["responses"]
    assert poll["204"]["content"] == {}  # no body, and none promised
    assert "Assignment" in poll["200"]["content"]["application/json"]["schema"]["$ref"]
    health = paths["/api/sessions/health"]["get"]["responses"]["500"]
    assert {"$ref": "#/components/schemas/HealthReply"} in health["content"]["application/json"]["schema"][
        "anyOf"
    ]


def test_required_fields_are_documented_as_required(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert set(schemas["RegisterRequest"]["required"]) == {"sessionId", "clientId"}
    assert schemas["StatusRequest"]["required"] == ["status"]
    assert schemas["RecordingPathRequest"]["required"] == ["recordingPath"]
    epoch = schemas["HeartbeatRequest"]["properties"]["epoch"]
    assert {"type": "integer", "minimum": 1} in epoch["anyOf"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/api/sessions", "GET, POST"),
        ("PATCH", "/api/sessions/ses_1/heartbeat", "PUT"),
        ("GET", "/api/sessions/ses_1/stop", "PUT"),
        # a literal path is its own resource: DELETE never reaches /api/sessions/{sessionId} as "all"
        ("DELETE", "/api/sessions/all", "GET"),
        ("POST", "/api/failover/status", "GET"),
        ("OPTIONS", "/actuator/health", "GET"),
    ],
)
def test_a_method_no_route_takes_is_405_naming_the_ones_it_does(
    api: ApiClient, method: str, path: str, allowed: str
) -> None:
    reply = api.call(method, path)
    assert reply.status == 405, reply.json
    assert reply.headers["allow"] == allowed
    assert reply.json["error"] == f"{method} is not allowed on {path}; it takes {allowed}"


def test_a_path_no_route_has_is_still_404(api: ApiClient) -> None:
    reply = api.call("TRACE", "/api/nothing/here")
    assert reply.status == 404
    assert reply.json["error"] == "no route for TRACE /api/nothing/here"


def test_a_405_is_behind_the_auth_gate(api: ApiClient) -> None:
    assert api.call("TRACE", "/api/sessions", auth=None).status == 401


@pytest.mark.parametrize("body", [b"[null, null]", b'  [{"lastChunk": "0001.mp4"}]', b"[]"])
def test_an_array_body_is_refused_never_read_as_its_first_element(api: ApiClient, body: bytes) -> None:
    api.post("/api/sessions", register_body("ses_1"))
    reply = api.call("PUT", "/api/sessions/ses_1/heartbeat", raw=body)
    assert reply.status == 400
    assert reply.json["error"] == "request body must be a JSON object, not an array"
    assert api.get("/api/sessions/ses_1").json["lastChunk"] is None


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"epoch": True}, "epoch: Input should be a JSON number"),
        ({"epoch": "2"}, "epoch: Input should be a JSON number"),
        ({"epoch": 0}, "epoch: Input should be greater than or equal to 1"),
        ({"captureRestarts": False}, "captureRestarts: Input should be a JSON number"),
        ({"lastChunk": " 0001.mp4"}, "lastChunk ' 0001.mp4' is not a chunk name like 0005.mp4"),
    ],
)
def test_a_heartbeat_holds_json_numbers_not_what_lax_parsing_would_take(
    api: ApiClient, body: dict[str, Any], problem: str
) -> None:
    api.post("/api/sessions", register_body("ses_1"))
    reply = api.put("/api/sessions/ses_1/heartbeat", body)
    assert reply.status == 400
    assert reply.json["error"] == problem


def test_an_integral_json_number_is_an_integer(api: ApiClient) -> None:
    api.post("/api/sessions", register_body("ses_1"))
    reply = api.put("/api/sessions/ses_1/heartbeat", {"epoch": 1.0, "lastChunk": "0002.mp4"})
    assert reply.status == 200, reply.json
    assert reply.json["epoch"] == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"hasVideo": "yes"}, "hasVideo: Input should be true or false"),
        ({"hasVideo": 1}, "hasVideo: Input should be true or false"),
        ({"size": True}, "size: Input should be a JSON number"),
        ({"missing": [False]}, "missing.0: Input should be a JSON number"),
    ],
)
def test_a_final_report_holds_json_types(api: ApiClient, body: dict[str, Any], problem: str) -> None:
    api.post("/api/sessions", register_body("ses_1"))
    reply = api.put("/api/sessions/ses_1/final", body)
    assert reply.status == 400
    assert reply.json["error"] == problem


@pytest.mark.parametrize(
    ("route", "body", "words"),
    [
        ("/api/sessions", {"clientId": "c"}, "sessionId and clientId are required"),
        ("/api/sessions", {"sessionId": "s", "clientId": None}, "sessionId and clientId are required"),
        ("/api/sessions", {"sessionId": "s", "clientId": "\x1f "}, "sessionId and clientId are required"),
        ("/api/sessions/ses_1/status", {}, "status field is required"),
        ("/api/sessions/ses_1/status", {"status": "  "}, "status field is required"),
        (
            "/api/sessions/ses_1/recording-path",
            {"recordingPath": "\u3000"},
            "recordingPath field is required",
        ),
    ],
)
def test_required_fields_keep_the_originals_words(api: ApiClient, route: str, body: Any, words: str) -> None:
    api.post("/api/sessions", register_body("ses_1"))
    call = api.post if route == "/api/sessions" else api.put
    reply = call(route, body)
    assert reply.status == 400
    assert reply.json["error"] == words


def _schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


@pytest.mark.parametrize("word", ["inactive", "INACTIVE", "Recording", " stopped\t", "sTaRtEd"])
def test_the_document_takes_status_words_in_any_case_as_the_api_does(
    api: ApiClient, document: dict[str, Any], word: str
) -> None:
    """A status read from one reply (`"INACTIVE"`) is a valid request to another, by the document
    and by the API alike."""
    for model in ("StatusRequest", "RegisterRequest"):
        assert re.match(_schema(document, model)["properties"]["status"]["pattern"], word), model
    api.post("/api/sessions", register_body("s1"))
    assert api.put("/api/sessions/s1/status", {"status": word}).status == 200


def test_the_document_refuses_what_the_api_refuses(api: ApiClient, document: dict[str, Any]) -> None:
    pattern = _schema(document, "StatusRequest")["properties"]["status"]["pattern"]
    api.post("/api/sessions", register_body("s1"))
    for word in ("stoped", "paused!", "FAILING_OVER", ""):
        assert not re.match(pattern, word)
        assert api.put("/api/sessions/s1/status", {"status": word}).status == 400


def test_links_lead_a_client_from_a_registration_to_its_session_and_a_takeover_to_its_backup(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    registered = paths["/api/sessions"]["post"]["responses"]["201"]["links"]
    taken = paths["/api/failover/{sessionId}"]["post"]["responses"]["202"]["links"]
    standby = paths["/api/standbys"]["post"]["responses"]["201"]["links"]
    stop_backup = paths["/api/failover/backup/{sessionId}"]["delete"]["operationId"]
    heartbeat = paths["/api/sessions/{sessionId}/heartbeat"]["put"]["operationId"]
    assert registered[heartbeat]["parameters"] == {"sessionId": "$response.body#/sessionId"}
    assert taken[stop_backup]["parameters"] == {"sessionId": "$request.path.sessionId"}
    assert stop_backup in registered
    poll = paths["/api/standbys/{standbyId}/assignment"]["get"]["operationId"]
    assert standby[poll]["parameters"] == {"standbyId": "$response.body#/standbyId"}
