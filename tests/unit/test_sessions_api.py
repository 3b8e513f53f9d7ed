"""Every /api/sessions route of the contract, through the real handler with v2 events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import ApiClient, FakeClock, basic, register_body

SID = "ses_A~1"


@pytest.fixture
def registered(api: ApiClient) -> ApiClient:
    assert api.post("/api/sessions", register_body(SID)).status == 201
    return api


# --- register -------------------------------------------------------------------------


def test_register_returns_201_and_the_session_object(api: ApiClient) -> None:
    reply = api.post("/api/sessions", register_body(SID))
    assert reply.status == 201
    session = reply.json
    assert session["sessionId"] == SID
    assert session["clientId"] == "recorder-host1"
    assert session["status"] == "STARTING"  # "started", as the scripts send it
    assert session["active"] is True
    assert session["epoch"] == 1
    assert session["recordingJson"]["outputMode"] == "COMPOSED"
    assert session["environment"]["videoName"] == "rec"
    assert session["metadata"] == {"source": "test"}
    for field in ("createdAt", "lastHeartbeat", "expiresAt"):
        assert session[field].endswith("Z")


def test_register_keeps_a_recording_json_sent_as_text(api: ApiClient) -> None:
    text = json.dumps({"id": SID, "status": "started"})
    reply = api.post("/api/sessions", register_body(SID, recordingJson=text))
    assert api.get(f"/api/sessions/{SID}").json["recordingJson"] == text
    assert reply.status == 201


def test_duplicate_register_is_400_and_changes_nothing(registered: ApiClient) -> None:
    registered.put(f"/api/sessions/{SID}/heartbeat", {"lastChunk": "0003.mp4"})
    reply = registered.post("/api/sessions", register_body(SID, clientId="someone-else"))
    assert reply.status == 400
    assert reply.json == {"error": f"Session with ID {SID} already exists"}
    session = registered.get(f"/api/sessions/{SID}").json
    assert session["clientId"] == "recorder-host1"
    assert session["lastChunk"] == "0003.mp4"


@pytest.mark.parametrize(
    "body",
    [
        {"clientId": "c"},
        {"sessionId": "s"},
        {"sessionId": "", "clientId": "c"},
        {"sessionId": "s", "clientId": "  "},
    ],
)
def test_register_without_ids_is_the_original_400(api: ApiClient, body: dict) -> None:
    reply = api.post("/api/sessions", body)
    assert reply.status == 400
    assert reply.json["error"] == "sessionId and clientId are required"


def test_register_rejects_a_session_id_that_cannot_be_a_key(api: ApiClient) -> None:
    reply = api.post("/api/sessions", register_body("a/b"))
    assert reply.status == 400
    assert "sessionId 'a/b'" in reply.json["error"]


def test_register_rejects_wrong_types_naming_the_field(api: ApiClient) -> None:
    reply = api.post("/api/sessions", register_body(SID, environment="not-an-object"))
    assert reply.status == 400
    assert reply.json["error"].startswith("environment:")
    assert api.get(f"/api/sessions/{SID}").status == 404


def test_register_rejects_an_unknown_status_word(api: ApiClient) -> None:
    reply = api.post("/api/sessions", register_body(SID, status="exploding"))
    assert reply.status == 400
    assert "status 'exploding'" in reply.json["error"]


def test_register_rejects_unknown_fields(api: ApiClient) -> None:
    reply = api.post("/api/sessions", register_body(SID, sesionId="typo"))
    assert reply.status == 400
    assert reply.json["error"] == "sesionId: is not a known field"


# --- heartbeat ------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"{}"])
def test_heartbeat_with_empty_body_or_empty_object(
    registered: ApiClient, clock: FakeClock, raw: bytes
) -> None:
    clock.advance(5)
    reply = registered.put(f"/api/sessions/{SID}/heartbeat", raw=raw)
    assert reply.status == 200
    assert reply.json["message"] == "Heartbeat updated"
    assert reply.json["sessionId"] == SID
    assert reply.json["timestamp"] == registered.get(f"/api/sessions/{SID}").json["lastHeartbeat"]


def test_heartbeat_with_a_chunk_records_it_and_starts_recording(registered: ApiClient) -> None:
    reply = registered.put(f"/api/sessions/{SID}/heartbeat", {"lastChunk": "0005.mp4"})
    assert reply.status == 200
    assert reply.json["lastChunk"] == "0005.mp4"
    session = registered.get(f"/api/sessions/{SID}").json
    assert session["lastChunk"] == "0005.mp4"
    assert session["status"] == "RECORDING"


def test_heartbeat_as_the_scripts_send_it_without_content_type(registered: ApiClient) -> None:
    reply = registered.call(
        "PUT",
        f"/api/sessions/{SID}/heartbeat",
        raw=b'{"lastChunk":"0001.mp4"}',
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "recorder-session-manager/1.0",
        },
    )
    assert reply.status == 200
    assert reply.json["lastChunk"] == "0001.mp4"


def test_heartbeat_for_an_unknown_session_is_404(api: ApiClient) -> None:
    reply = api.put("/api/sessions/nobody/heartbeat", {})
    assert reply.status == 404
    assert reply.json["error"] == "Session nobody not found"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "request body is not valid JSON"),
        (b"[1, 2]", "request body must be a JSON object, not an array"),
        (b'{"lastChunk": 5}', "lastChunk:"),
        (b'{"lastChunk": "five.mp4"}', "lastChunk 'five.mp4' is not a chunk name like 0005.mp4"),
        (b'{"epoch": "two"}', "epoch:"),
        (b'{"epoch": 0}', "epoch: Input should be greater than or equal to 1"),
        (b'{"lastchunk": "0001.mp4"}', "lastchunk: is not a known field"),
    ],
)
def test_bad_heartbeats_get_400_naming_the_problem(registered: ApiClient, body: bytes, expected: str) -> None:
    reply = registered.put(f"/api/sessions/{SID}/heartbeat", raw=body)
    assert reply.status == 400
    assert expected in reply.json["error"]
    assert reply.json["details"]


def test_heartbeat_with_a_stale_epoch_is_409(registered: ApiClient, store: SessionStore) -> None:
    store.decide(SID, lambda r, now: r.model_copy(update={"epoch": 3}))
    reply = registered.put(f"/api/sessions/{SID}/heartbeat", {"epoch": 2, "lastChunk": "0009.mp4"})
    assert reply.status == 409
    assert reply.json["currentEpoch"] == 3
    assert "older than" in reply.json["error"]
    assert registered.get(f"/api/sessions/{SID}").json["lastChunk"] is None


def test_heartbeat_with_the_current_epoch_is_accepted(registered: ApiClient) -> None:
    reply = registered.put(f"/api/sessions/{SID}/heartbeat", {"epoch": 1, "lastChunk": "0000.mp4"})
    assert reply.status == 200
    assert reply.json["epoch"] == 1


# --- reads ----------------------------------------------------------------------------


def test_get_one_session_and_404(registered: ApiClient) -> None:
    assert registered.get(f"/api/sessions/{SID}").json["sessionId"] == SID
    missing = registered.get("/api/sessions/other")
    assert missing.status == 404
    assert missing.json["error"] == "Session other not found"


def test_listings_split_active_and_inactive(api: ApiClient) -> None:
    for sid in ("a1", "a2", "i1"):
        api.post("/api/sessions", register_body(sid))
    api.put("/api/sessions/i1/deactivate")
    active = api.get("/api/sessions").json
    assert active["type"] == "active"
    assert active["count"] == 2
    assert {s["sessionId"] for s in active["sessions"]} == {"a1", "a2"}
    inactive = api.get("/api/sessions/inactive").json
    assert (inactive["type"], inactive["count"]) == ("inactive", 1)
    assert inactive["sessions"][0]["status"] == "INACTIVE"
    everything = api.get("/api/sessions/all").json
    assert (everything["type"], everything["totalCount"]) == ("all", 3)
    assert (everything["activeCount"], everything["inactiveCount"]) == (2, 1)
    assert "timestamp" in everything


def test_active_flag(registered: ApiClient) -> None:
    assert registered.get(f"/api/sessions/{SID}/active").json["active"] is True
    registered.put(f"/api/sessions/{SID}/deactivate")
    reply = registered.get(f"/api/sessions/{SID}/active").json
    assert reply == {"sessionId": SID, "active": False, "timestamp": reply["timestamp"]}
    assert registered.get("/api/sessions/unknown/active").json["active"] is False


# --- state changes --------------------------------------------------------------------


def test_deactivate(registered: ApiClient) -> None:
    reply = registered.put(f"/api/sessions/{SID}/deactivate")
    assert reply.status == 200
    assert reply.json["message"] == "Session deactivated"
    assert reply.json["status"] == "INACTIVE"
    assert registered.put("/api/sessions/ghost/deactivate").status == 404


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("recording", "RECORDING"),
        ("RECORDING", "RECORDING"),
        ("started", "STARTING"),
        ("Starting", "STARTING"),
        ("stopped", "STOPPING"),
        ("stopping", "STOPPING"),
        ("paused", "PAUSED"),
        ("completed", "COMPLETED"),
        ("failed", "FAILED"),
    ],
)
def test_status_words_are_case_insensitive(registered: ApiClient, word: str, status: str) -> None:
    reply = registered.put(f"/api/sessions/{SID}/status", {"status": word})
    assert reply.status == 200
    assert reply.json["message"] == "Session status updated"
    assert reply.json["status"] == status


def test_status_errors(registered: ApiClient) -> None:
    assert registered.put(f"/api/sessions/{SID}/status", {}).json == {
        "error": "status field is required",
        "details": [{"field": "", "problem": "status field is required"}],
    }
    assert registered.put(f"/api/sessions/{SID}/status", {"status": "x"}).status == 400
    assert registered.put("/api/sessions/ghost/status", {"status": "recording"}).status == 404


def test_recording_path(registered: ApiClient) -> None:
    reply = registered.put(f"/api/sessions/{SID}/recording-path", {"recordingPath": "/recordings/x.mp4"})
    assert reply.status == 200
    assert reply.json["message"] == "Recording path updated"
    assert registered.get(f"/api/sessions/{SID}").json["recordingPath"] == "/recordings/x.mp4"
    assert (
        registered.put(f"/api/sessions/{SID}/recording-path", {}).json["error"]
        == "recordingPath field is required"
    )
    assert registered.put("/api/sessions/ghost/recording-path", {"recordingPath": "p"}).status == 404


def test_stop(registered: ApiClient) -> None:
    reply = registered.put(f"/api/sessions/{SID}/stop")
    assert reply.status == 200
    assert reply.json["message"] == "Session stopped"
    assert registered.get(f"/api/sessions/{SID}").json["status"] == "STOPPING"
    assert registered.put("/api/sessions/ghost/stop").status == 404


def test_delete(registered: ApiClient) -> None:
    reply = registered.delete(f"/api/sessions/{SID}")
    assert reply.status == 200
    assert reply.json["sessionId"] == SID
    assert registered.get(f"/api/sessions/{SID}").status == 404
    assert registered.delete(f"/api/sessions/{SID}").status == 404


# --- health, cleanup, TTL -------------------------------------------------------------


def test_health_is_public_and_counts(registered: ApiClient) -> None:
    registered.post("/api/sessions", register_body("other"))
    registered.put("/api/sessions/other/deactivate")
    reply = registered.get("/api/sessions/health", auth=None)
    assert reply.status == 200
    body = reply.json
    assert body["status"] == "healthy"
    assert body["service"] == "recorder-ha-controller"
    assert (body["activeSessions"], body["inactiveSessions"], body["totalSessions"]) == (1, 1, 2)


def test_health_says_unhealthy_with_500_when_the_store_fails(
    registered: ApiClient, store: SessionStore
) -> None:
    store.items.table = "no-such-table"
    reply = registered.get("/api/sessions/health", auth=None)
    assert reply.status == 500
    assert reply.json["status"] == "unhealthy"


def test_actuator_health(registered: ApiClient, store: SessionStore) -> None:
    assert registered.get("/actuator/health", auth=None).json["status"] == "UP"
    store.items.table = "no-such-table"
    down = registered.get("/actuator/health", auth=None)
    assert (down.status, down.json["status"]) == (503, "DOWN")


def test_expired_items_are_absent_on_every_read(registered: ApiClient, clock: FakeClock) -> None:
    clock.advance(601)  # past HA_SESSION_MAX_INACTIVE_TIME with no heartbeat; DynamoDB has not deleted it yet
    assert registered.get(f"/api/sessions/{SID}").status == 404
    assert registered.put(f"/api/sessions/{SID}/heartbeat", {}).status == 404
    assert registered.get(f"/api/sessions/{SID}/active").json["active"] is False
    assert registered.get("/api/sessions").json["count"] == 0
    assert registered.get("/api/sessions/all").json["totalCount"] == 0
    assert registered.get("/api/sessions/health", auth=None).json["totalSessions"] == 0
    assert registered.post("/api/sessions", register_body(SID)).status == 201  # the id is free again


def test_heartbeats_push_the_ttl_forward(registered: ApiClient, clock: FakeClock) -> None:
    for _ in range(3):
        clock.advance(400)
        assert registered.put(f"/api/sessions/{SID}/heartbeat", {}).status == 200
    assert registered.get(f"/api/sessions/{SID}").status == 200


def test_cleanup_removes_expired_sessions_only(
    registered: ApiClient, clock: FakeClock, dynamodb: Any
) -> None:
    registered.post("/api/sessions", register_body("fresh"))
    clock.advance(500)
    registered.put("/api/sessions/fresh/heartbeat", {})
    clock.advance(200)
    reply = registered.post("/api/sessions/cleanup")
    assert reply.status == 200
    assert reply.json["removedSessions"] == 1
    assert dynamodb.scan(TableName="ovha-local-SessionsTable")["Count"] == 1


# --- auth and size --------------------------------------------------------------------


@pytest.mark.parametrize(
    "auth",
    [
        None,
        basic(password="wrong"),
        basic(user="admin"),
        "Bearer abc",
        "Basic !!!notbase64",
        "Basic " + "cmVjb3JkZXI=",
    ],
)
def test_protected_routes_want_the_right_basic_credentials(registered: ApiClient, auth: str | None) -> None:
    reply = registered.get("/api/sessions", auth=auth)
    assert reply.status == 401
    assert reply.headers["www-authenticate"].startswith("Basic ")
    assert "authentication required" in reply.json["error"]


def test_a_strangers_malformed_request_gets_401_not_a_schema_lesson(api: ApiClient) -> None:
    assert api.post("/api/sessions", raw=b"{oops", auth=None).status == 401


def test_every_session_route_is_protected(registered: ApiClient) -> None:
    routes = [
        ("POST", "/api/sessions"),
        ("GET", "/api/sessions"),
        ("GET", "/api/sessions/all"),
        ("GET", "/api/sessions/inactive"),
        ("POST", "/api/sessions/cleanup"),
        ("GET", f"/api/sessions/{SID}"),
        ("GET", f"/api/sessions/{SID}/active"),
        ("PUT", f"/api/sessions/{SID}/heartbeat"),
        ("PUT", f"/api/sessions/{SID}/deactivate"),
        ("PUT", f"/api/sessions/{SID}/status"),
        ("PUT", f"/api/sessions/{SID}/recording-path"),
        ("PUT", f"/api/sessions/{SID}/stop"),
        ("DELETE", f"/api/sessions/{SID}"),
    ]
    for method, path in routes:
        assert registered.call(method, path, auth=None).status == 401, (method, path)


def test_no_configured_credentials_means_nobody_gets_in(store: SessionStore, clock: FakeClock) -> None:
    from api.app import Api, ApiDeps
    from hacore.auth import CredentialSource
    from hacore.settings import Settings

    bare = Settings.from_env({"SESSIONS_TABLE": "ovha-local-SessionsTable"})
    client = ApiClient(Api(ApiDeps(bare, store, CredentialSource(bare), clock)))
    assert client.get("/api/sessions").status == 401
    assert client.get("/api/sessions", auth=basic("recorder", "rec0rd3r_2024!")).status == 401


def test_oversize_bodies_get_413(registered: ApiClient, settings: Settings) -> None:
    big = register_body("big", metadata={"blob": "x" * settings.max_body_bytes})
    reply = registered.post("/api/sessions", big)
    assert reply.status == 413
    assert f"the limit is {settings.max_body_bytes} bytes" in reply.json["error"]
    assert registered.get("/api/sessions/big").status == 404


def test_unknown_routes_are_404(registered: ApiClient) -> None:
    reply = registered.get(f"/api/sessions/{SID}/nothing-here")
    assert reply.status == 404
    assert "no route" in reply.json["error"]


# --- docs -----------------------------------------------------------------------------


def test_openapi_document_lists_the_contract(api: ApiClient) -> None:
    document = api.get("/v3/api-docs", auth=None).json
    paths = document["paths"]
    for path in (
        "/api/sessions",
        "/api/sessions/{sessionId}/heartbeat",
        "/api/sessions/health",
        "/api/sessions/{sessionId}/recording-path",
    ):
        assert path in paths
    assert "HeartbeatRequest" in document["components"]["schemas"]
    ui = api.get("/swagger-ui.html", auth=None)
    assert ui.status == 200
    assert ui.headers["content-type"].startswith("text/html")


def test_swagger_is_off_in_prod(store: SessionStore, clock: FakeClock) -> None:
    from api.app import Api, ApiDeps
    from hacore.auth import CredentialSource
    from hacore.settings import Settings

    prod = Settings.from_env({"APP_PROFILE": "prod", "SESSIONS_TABLE": "ovha-local-SessionsTable"})
    client = ApiClient(Api(ApiDeps(prod, store, CredentialSource(prod), clock)))
    assert client.get("/swagger-ui.html", auth=None).status == 404
    assert client.get("/v3/api-docs", auth=None).status == 404
