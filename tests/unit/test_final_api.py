"""PUT /api/sessions/{id}/final: a recorder's final report, and every way it can be refused."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.outcome import CustomerTerminal
from tests.helpers import ApiClient, FakeClock, RecordedMetrics

REPORT = {"epoch": 1, "bucket": "b", "key": "rec/m.mp4", "size": 10, "duration": 5.0, "hasVideo": True}


@pytest.fixture
def queue_api(store: SessionStore, settings: Settings, clock: FakeClock) -> tuple[ApiClient, Any, str]:
    from local.provision import create_queues
    from local.template import Template

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = create_queues(sqs, Template.load())["WebhookQueue"]
    wired = settings.model_copy(update={"webhook_queue_url": queue})
    deps = ApiDeps(wired, store, CredentialSource(wired), clock, metrics=RecordedMetrics())
    deps.customer_terminal = CustomerTerminal(store, Ingest(sqs, wired, []))
    return ApiClient(Api(deps)), sqs, queue


def register(api: ApiClient) -> None:
    assert api.post("/api/sessions", {"sessionId": "rec", "clientId": "c"}).status == 201


def test_a_playable_report_completes_the_session(queue_api: tuple[ApiClient, Any, str]) -> None:
    api, _, _ = queue_api
    register(api)
    reply = api.put("/api/sessions/rec/final", REPORT)
    assert reply.status == 200
    assert reply.json["message"] == "Final file recorded"
    assert reply.json["status"] == "COMPLETED"
    assert reply.json["customerTerminal"] is None  # no takeover: OpenVidu's own ready will come
    assert api.get("/api/sessions/rec").json["final"]["key"] == "rec/m.mp4"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (REPORT | {"sizee": 1}, "sizee"),
        (REPORT | {"size": -1}, "size"),
        (REPORT | {"epoch": 0}, "epoch"),
        (REPORT | {"hasVideo": "perhaps"}, "hasVideo"),
    ],
)
def test_a_bad_report_is_a_400_naming_the_field(
    queue_api: tuple[ApiClient, Any, str], body: dict[str, Any], words: str
) -> None:
    api, _, _ = queue_api
    register(api)
    reply = api.put("/api/sessions/rec/final", body)
    assert reply.status == 400
    assert words in str(reply.json)


def test_an_unknown_session_is_404_and_an_older_epoch_409(queue_api: tuple[ApiClient, Any, str]) -> None:
    api, _, _ = queue_api
    assert api.put("/api/sessions/nobody/final", REPORT).status == 404
    register(api)
    api.app.deps.store.decide("rec", lambda r, now: r.model_copy(update={"epoch": 2}))
    reply = api.put("/api/sessions/rec/final", REPORT)  # a fenced recorder's report
    assert reply.status == 409
    assert "epoch 1" in reply.json["error"]


def test_a_ready_that_cannot_be_queued_is_a_503_to_report_again(
    queue_api: tuple[ApiClient, Any, str], settings: Settings
) -> None:
    api, sqs, _ = queue_api
    register(api)
    api.app.deps.store.decide("rec", lambda r, now: r.model_copy(update={"epoch": 2}))  # after a takeover
    gone = settings.model_copy(update={"webhook_queue_url": "https://sqs.us-east-1.amazonaws.com/1/gone"})
    working = api.app.deps.customer_terminal._ingest
    api.app.deps.customer_terminal._ingest = Ingest(sqs, gone, [])
    reply = api.put("/api/sessions/rec/final", REPORT | {"epoch": 2})
    assert reply.status == 503
    assert "report again" in reply.json["error"]
    api.app.deps.customer_terminal._ingest = working
    again = api.put("/api/sessions/rec/final", REPORT | {"epoch": 2})
    assert again.status == 200
    assert again.json["customerTerminal"] == "ready"


def test_the_media_a_failover_cost_is_a_metric(
    queue_api: tuple[ApiClient, Any, str], store: SessionStore
) -> None:
    api, _, _ = queue_api
    register(api)
    store.decide("rec", lambda r, now: r.model_copy(update={"epoch": 2}))
    gaps = [{"afterChunk": 3, "beforeChunk": 4, "fromEpoch": 1, "toEpoch": 2, "seconds": 2.5}]
    assert (
        api.put("/api/sessions/rec/final", REPORT | {"epoch": 2, "epochs": [1, 2], "gaps": gaps}).status
        == 200
    )
    metrics = api.app.deps.metrics
    (lost,) = [c for c in metrics.counted if c.name == "MediaLostSeconds"]
    assert lost.value == 2.5
    assert (lost.metadata, lost.dimensions) == ({"sessionId": "rec"}, {})  # searchable, not a dimension


def test_a_recording_that_never_failed_over_adds_no_media_lost_figure(
    queue_api: tuple[ApiClient, Any, str],
) -> None:
    api, _, _ = queue_api
    register(api)
    assert api.put("/api/sessions/rec/final", REPORT | {"epochs": [1]}).status == 200
    assert "MediaLostSeconds" not in api.app.deps.metrics.values
