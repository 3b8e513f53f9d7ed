"""Webhook relay against a real HTTP receiver on localhost: retries, the DLQ, redrive, signing,
headers and method, session effects applied once, and 503 when the queue cannot take a message."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from webhook.app import WebhookDeps, build_resolver

from hacore.models import Beat, Registration, Status
from hacore.settings import Settings
from hacore.webhooks.inbound import InboundToken, TokenUnavailable
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.signing import verify
from local.apigw import LocalContext, http_api_event, response_parts
from local.provision import physical_name
from local.receiver import Receiver
from tests.helpers import register_body
from tests.integration.webhook_rig import make_rig

SECRET = "whsec_" + base64.b64encode(b"a-32-byte-signing-key-for-tests!").decode()


EVENT = {"event": "sessionCreated", "sessionId": "ses_A", "timestamp": 1}


def test_delivered_with_the_configured_method_headers_and_signature(aws: None, receiver: Receiver) -> None:
    rig = make_rig(
        receiver,
        OPENVIDU_WEBHOOK_METHOD="PUT",
        OPENVIDU_WEBHOOK_HEADERS="Authorization:Bearer abc:def,X-Custom:v1",
        OPENVIDU_WEBHOOK_SIGNING_SECRET=SECRET,
    )
    status, reply = rig.post(EVENT)
    assert status == 200
    assert reply["status"] == "received"
    assert reply["method"] == "POST"
    rig.drain()
    (got,) = receiver.requests
    assert got["method"] == "PUT"
    assert got["path"] == "/hooks"
    assert json.loads(got["body"]) == EVENT
    headers = got["headers"]
    assert (headers["authorization"], headers["x-custom"]) == ("Bearer abc:def", "v1")
    assert headers["webhook-id"] == reply["id"]
    assert verify(
        SECRET,
        headers["webhook-id"],
        int(headers["webhook-timestamp"]),
        got["body"],
        headers["webhook-signature"],
    )
    stats = rig.status()
    assert (stats["totalRequests"], stats["successfulRequests"], stats["failedRequests"]) == (1, 1, 0)
    assert stats["successRate"] == 100.0
    assert stats["latencyP50Ms"] is not None


def test_the_methods_openvidu_uses_are_relayed_as_they_came(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert rig.post(EVENT, method=method)[0] == 200
    rig.drain()
    assert sorted(r["method"] for r in receiver.requests) == ["DELETE", "PATCH", "POST", "PUT"]


def test_retryable_failures_are_retried_with_the_same_webhook_id(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver, OPENVIDU_WEBHOOK_SIGNING_SECRET=SECRET)
    receiver.answers = [503, 429]
    _, reply = rig.post(EVENT)
    rig.drain()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [reply["id"]] * 3
    stats = rig.status()
    assert (stats["deliveryAttempts"], stats["failedAttempts"], stats["successfulRequests"]) == (3, 2, 1)
    assert stats["dlqDepth"] == 0
    # the dashboard's figures, from the same outcomes: one latency, measured from receipt
    timings = {"WebhookDeliveryLatency", "WebhookEndpointDownSeconds"}
    counts = {name: n for name, n in rig.metrics.sums.items() if name not in timings}
    assert counts == {"WebhookAttemptsFailed": 2, "WebhooksDelivered": 1}
    (latency,) = rig.metrics.values["WebhookDeliveryLatency"]
    assert 0 <= latency < 10_000


def test_a_receiver_down_for_the_whole_budget_leaves_it_in_the_dlq_then_redrive_delivers(
    aws: None, receiver: Receiver
) -> None:
    rig = make_rig(receiver, OPENVIDU_WEBHOOK_SIGNING_SECRET=SECRET)
    receiver.down()
    _, reply = rig.post(EVENT)
    rig.drain()
    (dead,) = rig.parts.dead_letters.list()
    assert dead["id"] == reply["id"]
    assert dead["attempts"] == 3
    assert "gave up after 3 attempt(s)" in dead["lastError"]
    assert "ConnectionError" in dead["lastError"]
    assert rig.status()["dlqDepth"] == 1
    rig.metrics.sums.pop("WebhookEndpointDownSeconds", None)  # a timing, once the streak is an outage
    assert rig.metrics.sums == {"WebhookAttemptsFailed": 3, "WebhooksDeadLettered": 1}
    receiver.up()
    assert rig.parts.dead_letters.redrive() == [reply["id"]]
    rig.drain()
    (got,) = receiver.requests
    assert got["headers"]["webhook-id"] == reply["id"]  # the receiver can deduplicate
    assert rig.parts.dead_letters.list() == []
    assert rig.status()["dlqDepth"] == 0


def test_other_4xx_go_to_the_dlq_at_once_with_the_reason(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    receiver.answers = [400]
    rig.post(EVENT)
    rig.drain()
    assert len(receiver.requests) == 1  # not retried
    (dead,) = rig.parts.dead_letters.list()
    assert dead["lastError"].startswith("HTTP 400")
    assert (dead["attempts"], dead["lastStatus"]) == (1, 400)


def test_redrive_by_id_moves_only_those(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    receiver.answers = [404, 404]
    first = rig.post(EVENT)[1]["id"]
    second = rig.post(EVENT | {"sessionId": "ses_B"})[1]["id"]  # (one session's would wait)
    rig.drain()
    assert {d["id"] for d in rig.parts.dead_letters.list()} == {first, second}
    assert rig.parts.dead_letters.redrive({second}) == [second]
    rig.drain()
    assert [d["id"] for d in rig.parts.dead_letters.list()] == [first]


def test_the_session_effects_happen_once(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    for sid in ("stop_me", "ready_me", "fail_me"):
        rig.store.register(Registration.model_validate(register_body(sid)))
        rig.store.heartbeat(sid, Beat(lastChunk="0001.mp4"))

    def changed(sid: str, status: str) -> dict[str, Any]:
        event = {"event": "recordingStatusChanged", "id": sid, "sessionId": "s", "status": status}
        first = rig.post(event)[1]
        again = rig.post(event)[1]  # OpenVidu repeats itself, and the worker applies each copy again
        rig.drain()
        return {"first": first["effect"], "again": again["effect"], "record": rig.store.get(sid)}

    stopped = changed("stop_me", "stopped")
    assert (stopped["first"], stopped["again"]) == ("STOPPING", "already STOPPING")
    assert stopped["record"].status is Status.STOPPING
    ready = changed("ready_me", "ready")
    assert (ready["first"], ready["again"]) == ("COMPLETED", "already COMPLETED")
    failed = changed("fail_me", "failed")  # OpenVidu is done with it: the session ends, no takeover
    assert (failed["first"], failed["again"]) == ("STOPPING", "already STOPPING")
    assert (failed["record"].status, failed["record"].epoch) == (Status.STOPPING, 1)
    # its chunks are in S3 and no recorder is left: OpenVidu's failed is held, one finalizer joins them
    assert [(s.session_id, s.action) for s in rig.launcher.launches] == [("fail_me", "finalize")]
    assert failed["record"].heldWebhook is not None
    # every stopped is relayed; of each recording's terminal events the customer gets at most one
    statuses = [json.loads(r["body"])["status"] for r in receiver.requests]
    assert sorted(statuses) == ["ready", "stopped", "stopped"]
    assert rig.store.get("ready_me").terminal.status == "ready"  # type: ignore[union-attr]
    assert rig.store.get("fail_me").terminal is None  # until the finalizer reports, or the hold lapses


def test_stopped_asks_a_running_backup_to_stop_gracefully(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    rig.store.register(Registration.model_validate(register_body("bk")))
    rig.parts.effects._engine().take_over("bk")  # a backup is launched
    status, reply = rig.post({"event": "recordingStatusChanged", "id": "bk", "status": "stopped"})
    assert status == 200
    assert reply["effect"] == "STOPPING, 1 backup(s) asked to stop gracefully (each finalizes)"
    assert rig.launcher.stopped == [("ref-bk-e2", False)]


def test_ingest_answers_503_when_the_queue_cannot_take_it(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    gone = rig.settings.model_copy(update={"webhook_queue_url": "https://sqs.us-east-1.amazonaws.com/1/gone"})
    rig.parts.ingest = Ingest(rig.sqs, gone, rig.parts.endpoints)
    status, reply = rig.post(EVENT)
    assert status == 503
    assert reply["status"] == "unavailable"
    assert receiver.requests == []


def test_strangers_and_oversize_bodies_are_refused(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver, OPENVIDU_WEBHOOK_INBOUND_TOKEN="sesame")
    assert rig.post(EVENT)[0] == 401
    assert rig.post(EVENT, headers={"Authorization": "Bearer nope"})[0] == 401
    assert rig.post(EVENT, headers={"Authorization": "Bearer sesame"})[0] == 200
    assert rig.post(EVENT, headers={"X-Webhook-Token": "sesame"})[0] == 200
    too_big = rig.post(
        None, headers={"Authorization": "Bearer sesame"}, raw=b"x" * (rig.settings.webhook_max_bytes + 1)
    )
    assert too_big[0] == 413


def test_forged_stopped_and_failed_change_nothing(aws: None, receiver: Receiver) -> None:
    """OpenVidu's worst-abused events, from someone without the token: no session, backup,
    queue or customer sees them; each refusal is counted (the stack alarms on a burst)."""
    rig = make_rig(receiver, OPENVIDU_WEBHOOK_INBOUND_TOKEN="sesame")
    rig.store.register(Registration.model_validate(register_body("victim")))
    rig.parts.effects._engine().take_over("victim")  # a backup is recording it
    before = rig.store.get("victim")
    launches = len(rig.launcher.launches)
    for status in ("stopped", "failed"):
        forged = {"event": "recordingStatusChanged", "id": "victim", "sessionId": "victim", "status": status}
        for headers in ({}, {"X-Webhook-Token": "guess"}, {"Authorization": "Bearer sesame-"}):
            code, reply = rig.post(forged, headers=headers)
            assert code == 401
            assert "token" in reply["error"]
    rig.drain()
    assert rig.store.get("victim") == before  # status, epoch, backup, terminal: untouched
    assert rig.launcher.stopped == []  # the backup was not asked to stop
    assert len(rig.launcher.launches) == launches  # no finalizer or takeover started
    assert receiver.requests == []  # the customer was told nothing
    assert rig.status()["totalRequests"] == 0
    assert rig.metrics.sums["WebhooksRefused"] == 6
    # the real OpenVidu, with the token, still ends the recording
    real = {"event": "recordingStatusChanged", "id": "victim", "sessionId": "victim", "status": "stopped"}
    assert rig.post(real, headers={"X-Webhook-Token": "sesame"})[0] == 200
    assert rig.launcher.stopped == [("ref-victim-e2", False)]


def test_the_token_from_secrets_manager_outlives_an_outage_of_it() -> None:
    settings = Settings.from_env({"OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET": "arn:secret:webhook-token"})
    answers: list[Exception | str] = [
        RuntimeError("unreachable"),
        "t0ken",
        RuntimeError("down"),
        RuntimeError("down"),
    ]

    def reader(name: str) -> str:
        assert name == "arn:secret:webhook-token"
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    token = InboundToken(settings, reader)
    assert token.required
    with pytest.raises(TokenUnavailable):  # never read: nobody is let in
        token.accepts({"X-Webhook-Token": "t0ken"})
    assert token.accepts({"X-Webhook-Token": "t0ken"})
    assert token.accepts({"x-webhook-token": "t0ken"})  # Secrets Manager down again: the last one read
    assert not token.accepts({})
    assert answers == []
    assert not InboundToken(Settings.from_env({})).required  # the local default: any sender


def test_a_token_that_cannot_be_read_refuses_with_503_and_queues_nothing(
    aws: None, receiver: Receiver
) -> None:
    rig = make_rig(receiver)
    settings = rig.settings.model_copy(update={"webhook_inbound_token_secret": "arn:secret:webhook-token"})

    def unreachable(name: str) -> str:
        raise RuntimeError("Secrets Manager is unreachable")

    deps = WebhookDeps(rig.parts, token=InboundToken(settings, unreachable))
    event = http_api_event(
        "POST", "/openvidu/webhook", "", [("Content-Type", "application/json")], json.dumps(EVENT).encode()
    )
    status, _, body = response_parts(build_resolver(deps).resolve(event, LocalContext("w")))
    assert status == 503
    assert "cannot be checked" in json.loads(body)["error"]
    assert rig.parts.dead_letters.depth()["queued"] == 0


def test_any_content_type_is_relayed_byte_for_byte(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    event = http_api_event(
        "POST", "/openvidu/webhook", "", [("Content-Type", "application/octet-stream")], b"\x00\x01binary\xff"
    )
    status, _, _ = response_parts(build_resolver(WebhookDeps(rig.parts)).resolve(event, LocalContext("w")))
    assert status == 200
    rig.drain()
    (got,) = receiver.requests
    assert got["body"] == b"\x00\x01binary\xff"
    assert got["headers"]["content-type"] == "application/octet-stream"


def test_an_endpoint_filter_and_extra_endpoints(aws: None, receiver: Receiver) -> None:
    extra = json.dumps(
        [
            {
                "name": "recordings",
                "url": receiver.url.replace("/hooks", "/rec"),
                "events": ["recordingStatusChanged"],
            }
        ]
    )
    rig = make_rig(receiver, OPENVIDU_WEBHOOK_EXTRA_ENDPOINTS=extra)
    rig.post(EVENT)
    rig.post({"event": "recordingStatusChanged", "id": "nobody", "status": "started"})
    rig.drain()
    assert sorted(r["path"] for r in receiver.requests) == ["/hooks", "/hooks", "/rec"]


def test_the_originals_status_fields(aws: None, receiver: Receiver) -> None:
    rig = make_rig(receiver)
    status = rig.status()
    for name in (
        "enabled",
        "endpoint",
        "totalRequests",
        "successfulRequests",
        "failedRequests",
        "successRate",
        "lastRequestTime",
        "lastSuccessTime",
        "lastFailureTime",
        "dlqDepth",
        "inFlight",
        "latencyP50Ms",
        "latencyP99Ms",
    ):
        assert name in status
    assert status["endpoint"] == receiver.url
    assert physical_name("WebhookQueue") in (rig.settings.webhook_queue_url or "")


def test_dlq_routes_on_the_api(aws: None, receiver: Receiver) -> None:
    from api.app import Api, ApiDeps
    from hacore.auth import CredentialSource
    from tests.helpers import PASSWORD, USER, ApiClient

    rig = make_rig(receiver)
    receiver.answers = [410]
    dead_id = rig.post(EVENT)[1]["id"]
    rig.drain()
    settings = Settings.from_env(
        {
            "SESSIONS_TABLE": rig.settings.sessions_table,
            "HA_CONTROLLER_USERNAME": USER,
            "HA_CONTROLLER_PASSWORD": PASSWORD,
        }
    )
    api = ApiClient(
        Api(ApiDeps(settings, rig.store, CredentialSource(settings), dead_letters=rig.parts.dead_letters))
    )
    listed = api.get("/api/webhooks/dlq")
    assert listed.status == 200
    assert [m["id"] for m in listed.json["messages"]] == [dead_id]
    assert listed.json["messages"][0]["lastError"].startswith("HTTP 410")
    assert api.get("/api/webhooks/dlq", auth=None).status == 401
    assert api.post("/api/webhooks/dlq/redrive", {"ids": "not-a-list"}).status == 400
    moved = api.post("/api/webhooks/dlq/redrive", {"ids": [dead_id]})
    assert (moved.status, moved.json["moved"]) == (200, [dead_id])
    rig.drain()
    assert len(receiver.requests) == 2


def test_the_journal_keeps_what_became_of_each_webhook_of_a_recording_in_order(
    aws: None, receiver: Receiver
) -> None:
    """What the console's recording page lists: every turn of the real relay noted, per webhook."""
    rig = make_rig(receiver)
    receiver.answers = [503, 200, 400]  # started: a failed turn, then delivered; stopped: refused
    started = {"event": "recordingStatusChanged", "id": "rec_J", "sessionId": "ses_J", "status": "started"}
    rig.post(started)
    rig.post(started | {"status": "stopped"})
    rig.drain()
    journal = rig.parts.journal.of("rec_J")
    assert [(d.status, d.state) for d in journal] == [("started", "delivered"), ("stopped", "dead-lettered")]
    assert journal[0].attempts == 2  # the failed turn, then the delivery, on one item
    assert journal[0].receivedAt < journal[1].receivedAt
    assert rig.parts.journal.of("ses_J") == []  # a recording's journal: its own events only
