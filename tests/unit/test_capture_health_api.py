"""Heartbeats carry the capture stack's health; the session shows it; CloudWatch gets a metric."""

from __future__ import annotations

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import ApiClient, FakeClock, RecordedMetrics

HEALTH = {"restarts": {"display": 0, "audio": 0, "browser": 1, "page": 2, "ffmpeg": 0}, "frozenSeconds": 12.5}


def test_the_session_shows_the_stack_and_the_metric_counts_new_restarts(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    metrics = RecordedMetrics()
    api = ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, metrics=metrics)))
    assert api.post("/api/sessions", {"sessionId": "rec", "clientId": "c"}).status == 201
    beat = api.put("/api/sessions/rec/heartbeat", {"captureRestarts": 3, "captureHealth": HEALTH})
    assert beat.status == 200
    assert api.get("/api/sessions/rec").json["captureHealth"] == HEALTH
    assert api.get("/api/sessions/rec").json["captureRestarts"] == 3
    api.put("/api/sessions/rec/heartbeat", {"captureRestarts": 3, "captureHealth": HEALTH})  # nothing new
    api.put("/api/sessions/rec/heartbeat", {"captureRestarts": 5})
    assert metrics.values["CaptureRestarts"] == [3, 2]  # the restarts each heartbeat added
    assert {c.metadata["sessionId"] for c in metrics.counted} == {"rec"}


def test_a_health_that_is_not_an_object_is_a_400(api: ApiClient) -> None:
    assert api.post("/api/sessions", {"sessionId": "rec", "clientId": "c"}).status == 201
    reply = api.put("/api/sessions/rec/heartbeat", {"captureHealth": "fine"})
    assert reply.status == 400
    assert "captureHealth" in str(reply.json)
