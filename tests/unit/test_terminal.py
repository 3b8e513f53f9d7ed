"""The customer's one terminal event per recording: the pure rules, then their sending over moto SQS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from hacore.models import FinalReport, HeartbeatRequest, RegisterRequest, SessionRecord, Status
from hacore.settings import Settings
from hacore.store import SessionStore
from hacore.terminal import on_final, on_openvidu_terminal, ours_id
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.outcome import CustomerTerminal

FAILED = {
    "event": "recordingStatusChanged",
    "id": "rec",
    "status": "failed",
    "reason": "sessionClosedByServer",
    "sessionId": "ses",
    "uniqueSessionId": "ses_1",
    "startTime": 1,
}
PLAYABLE = FinalReport(
    bucket="b",
    key="rec/meeting.mp4",
    size=1234,
    duration=61.5,
    hasVideo=True,
    hasAudio=True,
    epochs=[1, 2],
    gaps=[{"afterChunk": 4, "beforeChunk": 5, "seconds": 7.5}],
)
NOTHING = FinalReport(hasVideo=False)


def record(epoch: int = 1, **changes: Any) -> SessionRecord:
    base = SessionRecord(
        sessionId="rec",
        clientId="c",
        createdAt=1,
        updatedAt=1,
        lastHeartbeatAt=1,
        lastChunkChangedAt=1,
        expiresAt=10**10,
        epoch=epoch,
        status=Status.STOPPING,
        recordingJson={
            "id": "rec",
            "name": "meeting",
            "outputMode": "COMPOSED",
            "resolution": "1280x720",
            "createdAt": 1,
        },
    )
    return base.model_copy(update=changes)


def test_openvidus_ready_is_the_terminal_and_a_second_terminal_is_dropped() -> None:
    after, verdict = on_openvidu_terminal(record(), "ready", {}, "w1")
    assert verdict == "relay"
    assert after.terminal
    assert after.terminal.webhookId == "w1"
    assert on_openvidu_terminal(after, "ready", {}, "w1")[1] == "relay"  # the same webhook again
    assert on_openvidu_terminal(after, "failed", FAILED, "w2")[1] == "drop"


def test_a_failed_without_a_takeover_is_relayed() -> None:
    after, verdict = on_openvidu_terminal(record(epoch=1), "failed", FAILED, "w1")
    assert verdict == "relay"
    assert after.terminal
    assert after.terminal.status == "failed"


def test_a_failed_after_a_takeover_is_held_then_replaced_by_ready_from_the_final_report() -> None:
    held, verdict = on_openvidu_terminal(record(epoch=2), "failed", FAILED, "w1")
    assert verdict == "hold"
    assert held.heldWebhook == {"id": "w1", "body": FAILED}
    assert held.terminal is None
    assert on_openvidu_terminal(held, "failed", FAILED, "w1")[1] == "hold"  # idempotent
    done = on_final(held, PLAYABLE)
    assert done.status is Status.COMPLETED
    assert done.heldWebhook is None
    assert done.terminal
    assert done.terminal.status == "ready"
    assert not done.terminal.sent
    ready = done.terminal.body or {}
    assert (ready["status"], ready["size"], ready["duration"], ready["reason"]) == (
        "ready",
        1234,
        61.5,
        "sessionClosedByServer",
    )  # OpenVidu's fields, the real file's figures
    assert (ready["name"], ready["resolution"], ready["startTime"]) == ("meeting", "1280x720", 1)
    assert ready["ha"]["key"] == "rec/meeting.mp4"
    assert ready["ha"]["epochs"] == [1, 2]
    assert ready["ha"]["gaps"][0]["seconds"] == 7.5
    assert on_openvidu_terminal(done, "failed", FAILED, "w1")[1] == "drop"


def test_a_final_report_before_openvidus_failed_turns_it_into_ready() -> None:
    done = on_final(record(epoch=2), PLAYABLE)  # after a takeover: our ready at once
    assert done.terminal
    assert done.terminal.webhookId == ours_id("rec", "ready")
    first = on_final(record(epoch=1), PLAYABLE)  # no takeover: OpenVidu's own ready will come
    assert first.terminal is None
    replaced, verdict = on_openvidu_terminal(first, "failed", FAILED, "w9")  # yet it said failed
    assert verdict == "replace"
    assert replaced.terminal
    assert replaced.terminal.status == "ready"


def test_nothing_playable_releases_the_held_failed() -> None:
    held, _ = on_openvidu_terminal(record(epoch=2), "failed", FAILED, "w1")
    released = on_final(held, NOTHING)
    assert released.terminal
    assert (released.terminal.status, released.terminal.webhookId) == ("failed", "w1")
    assert released.terminal.body == FAILED
    assert not released.terminal.sent


def test_a_failed_session_gets_openvidus_failed() -> None:
    verdict = on_openvidu_terminal(record(epoch=3, status=Status.FAILED), "failed", FAILED, "w1")[1]
    assert verdict == "relay"


@pytest.fixture
def outcome(dynamodb: Any, store: SessionStore) -> tuple[CustomerTerminal, Any, str]:
    from local.provision import create_queues
    from local.template import Template

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = create_queues(sqs, Template.load())["WebhookQueue"]
    settings = Settings.from_env({"WEBHOOK_QUEUE_URL": queue, "OPENVIDU_WEBHOOK_ENDPOINT": "http://customer"})
    from hacore.webhooks.endpoints import endpoints_from

    return CustomerTerminal(store, Ingest(sqs, settings, endpoints_from(settings))), sqs, queue


def test_our_ready_is_queued_once_whoever_calls(
    outcome: tuple[CustomerTerminal, Any, str], store: SessionStore
) -> None:
    terminal, sqs, queue = outcome
    store.register(RegisterRequest(sessionId="rec", clientId="c"))
    store.heartbeat("rec", HeartbeatRequest(lastChunk="0003.mp4"))
    store.mutate("rec", lambda r, now: r.model_copy(update={"epoch": 2}))
    assert terminal.verdict(parse_event(json.dumps(FAILED)), FAILED, "w1") == "hold"
    done = terminal.report_final("rec", PLAYABLE)
    assert done.terminal
    assert done.terminal.sent
    terminal.send_pending(
        done.model_copy(update={"terminal": done.terminal.model_copy(update={"sent": False})})
    )
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1  # a stale caller finds it claimed already
    envelope = json.loads(messages[0]["Body"])
    assert envelope["id"] == ours_id("rec", "ready")
    assert not envelope["applyEffects"]
    assert json.loads(envelope["body"])["status"] == "ready"
    our_ready = json.loads(envelope["body"])
    assert terminal.verdict(parse_event(envelope["body"]), our_ready, envelope["id"]) == "relay"
