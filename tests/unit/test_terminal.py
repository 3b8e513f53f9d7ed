"""The customer's one terminal event per recording: the pure rules, then their sending over moto SQS."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from hacore.lifecycle import Due
from hacore.models import Beat, FailoverEvent, FinalReport, Registration, SessionRecord, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.terminal import on_final, on_openvidu_terminal, ours_id
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Ingest, QueueUnavailable
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
HOLD = 5000.0  # when a held failed is released, if no final report came


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
    after, verdict = on_openvidu_terminal(record(), "ready", {}, "w1", hold_until=HOLD)
    assert verdict == "relay"
    assert after.terminal
    assert after.terminal.webhookId == "w1"
    assert (
        on_openvidu_terminal(after, "ready", {}, "w1", hold_until=HOLD)[1] == "relay"
    )  # the same webhook again
    assert on_openvidu_terminal(after, "failed", FAILED, "w2", hold_until=HOLD)[1] == "drop"


def test_a_failed_without_a_takeover_is_relayed() -> None:
    after, verdict = on_openvidu_terminal(record(epoch=1), "failed", FAILED, "w1", hold_until=HOLD)
    assert verdict == "relay"
    assert after.terminal
    assert after.terminal.status == "failed"


def test_a_failed_after_a_takeover_is_held_then_replaced_by_ready_from_the_final_report() -> None:
    held, verdict = on_openvidu_terminal(record(epoch=2), "failed", FAILED, "w1", hold_until=HOLD)
    assert verdict == "hold"
    assert held.heldWebhook == {"id": "w1", "body": FAILED}
    assert held.terminal is None
    assert on_openvidu_terminal(held, "failed", FAILED, "w1", hold_until=HOLD)[1] == "hold"  # idempotent
    assert on_openvidu_terminal(held, "failed", FAILED, "w2", hold_until=HOLD)[1] == "drop"  # a repeat
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
    assert on_openvidu_terminal(done, "failed", FAILED, "w1", hold_until=HOLD)[1] == "drop"


def test_a_final_report_before_openvidus_failed_turns_it_into_ready() -> None:
    done = on_final(record(epoch=2), PLAYABLE)  # after a takeover: our ready at once
    assert done.terminal
    assert done.terminal.webhookId == ours_id("rec", "ready")
    first = on_final(record(epoch=1), PLAYABLE)  # no takeover: OpenVidu's own ready will come
    assert first.terminal is None
    replaced, verdict = on_openvidu_terminal(
        first, "failed", FAILED, "w9", hold_until=HOLD
    )  # yet it said failed
    assert verdict == "replace"
    assert replaced.terminal
    assert replaced.terminal.status == "ready"


def test_a_handed_over_recording_is_ready_listing_its_handover_not_a_recovery() -> None:
    """OpenVidu says `failed` (its container stopped itself once fenced); the customer gets our
    `ready`, whose `ha` lists the planned handover and says nothing was recovered."""
    handed = FailoverEvent(
        epoch=2, at=10.0, reason="drain", startChunk="0004", outcome="running", runningAt=21.0
    )
    held, verdict = on_openvidu_terminal(record(epoch=2, failovers=[handed]), "failed", FAILED, "w1", HOLD)
    assert verdict == "hold"
    ready = (on_final(held, PLAYABLE).terminal.body or {})["ha"]  # type: ignore[union-attr]
    assert ready["handovers"] == [{"epoch": 2, "reason": "drain", "at": 10.0, "ownerFrom": 21.0}]
    assert ready["recovered"] is False
    taken = FailoverEvent(epoch=3, at=30.0, reason="recorder-exited", startChunk="0009", outcome="running")
    both = on_final(record(epoch=3, failovers=[handed, taken]), PLAYABLE).terminal.body or {}  # type: ignore[union-attr]
    assert (both["ha"]["recovered"], len(both["ha"]["handovers"])) == (True, 1)


def test_nothing_playable_releases_the_held_failed() -> None:
    held, _ = on_openvidu_terminal(record(epoch=2), "failed", FAILED, "w1", hold_until=HOLD)
    released = on_final(held, NOTHING)
    assert released.terminal
    assert (released.terminal.status, released.terminal.webhookId) == ("failed", "w1")
    assert released.terminal.body == FAILED
    assert not released.terminal.sent


def test_a_failed_session_gets_openvidus_failed() -> None:
    verdict = on_openvidu_terminal(
        record(epoch=3, status=Status.FAILED), "failed", FAILED, "w1", hold_until=HOLD
    )[1]
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
    store.register(Registration(sessionId="rec", clientId="c"))
    store.heartbeat("rec", Beat(lastChunk="0003.mp4"))
    store.decide("rec", lambda r, now: r.model_copy(update={"epoch": 2}))
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


class Launches:
    """The engine's finalizer launches, recorded (a unit test of the triggers, not of the launcher)."""

    def __init__(self, running: bool = False) -> None:
        self.finalizers: list[str] = []
        self.launcher = self
        self.running = running

    def launch_finalizer(self, session_id: str, why: str) -> str:
        self.finalizers.append(session_id)
        return "ref"

    def describe(self, ref: str) -> Any:
        from hacore.launchers import BackupInfo

        return BackupInfo(ref, "rec", 2, "0004", "running" if self.running else "exited", "test")


def held_session(store: SessionStore, launcher_ref: str | None = None) -> None:
    store.register(Registration(sessionId="rec", clientId="c"))
    store.heartbeat("rec", Beat(lastChunk="0003.mp4"))
    store.decide(  # a takeover happened, then OpenVidu's `stopped` ended the session
        "rec",
        lambda r, now: r.model_copy(
            update={"epoch": 2, "launcherRef": launcher_ref, "status": Status.STOPPING}
        ),
    )


@pytest.mark.parametrize(
    ("backup_running", "finalizers"),
    [(False, ["rec"]), (True, [])],
    ids=["no recorder left: a finalizer", "a running backup finalizes itself"],
)
def test_a_held_failed_is_finalized_by_whoever_is_left(
    outcome: tuple[CustomerTerminal, Any, str],
    store: SessionStore,
    backup_running: bool,
    finalizers: list[str],
) -> None:
    terminal, _, _ = outcome
    engine = Launches(running=backup_running)
    terminal._engine = lambda: engine  # type: ignore[assignment,return-value]
    held_session(store, launcher_ref="ref-backup")
    assert terminal.verdict(parse_event(json.dumps(FAILED)), FAILED, "w1") == "hold"
    assert engine.finalizers == finalizers


def test_an_s3_copy_still_owed_starts_a_finalizer(
    outcome: tuple[CustomerTerminal, Any, str], store: SessionStore
) -> None:
    terminal, _, _ = outcome
    engine = Launches()
    terminal._engine = lambda: engine  # type: ignore[assignment,return-value]
    store.register(Registration(sessionId="rec", clientId="c"))
    local_only = FinalReport(
        local="/recordings/rec/m.mp4", s3Pending=True, hasVideo=True, size=9, duration=7200
    )
    assert terminal.report_final("rec", local_only).final.s3Pending  # type: ignore[union-attr]
    assert engine.finalizers == ["rec"]
    stored = FinalReport(bucket="b", key="rec/m.mp4", hasVideo=True, size=9, duration=7200)
    after = terminal.report_final("rec", stored)  # the finalizer's report keeps the local copy
    assert after.final is not None
    assert (after.final.key, after.final.local) == ("rec/m.mp4", "/recordings/rec/m.mp4")
    assert engine.finalizers == ["rec"]


def test_a_ready_that_cannot_be_queued_is_not_lost(
    outcome: tuple[CustomerTerminal, Any, str], store: SessionStore
) -> None:
    terminal, sqs, _ = outcome
    held_session(store)
    assert terminal.verdict(parse_event(json.dumps(FAILED)), FAILED, "w1") == "hold"
    broken = Settings.from_env({"WEBHOOK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/gone"})
    good = terminal._ingest
    terminal._ingest = Ingest(sqs, broken, [])
    with pytest.raises(QueueUnavailable):
        terminal.report_final("rec", PLAYABLE)
    pending = store.get("rec").terminal
    assert pending is not None
    assert (pending.status, pending.sent) == ("ready", False)  # decided, and still owed
    terminal._ingest = good
    assert terminal.send_pending(store.get("rec")).terminal.sent  # type: ignore[union-attr]


def test_a_held_failed_that_no_report_answers_is_released_at_its_deadline(
    outcome: tuple[CustomerTerminal, Any, str], store: SessionStore, clock: Any
) -> None:
    terminal, sqs, queue = outcome
    held_session(store)
    assert terminal.verdict(parse_event(json.dumps(FAILED)), FAILED, "w1") == "hold"
    held = store.get("rec")
    assert held.claimExpiresAt == clock() + 900
    assert store.stale_candidates(0, 0, clock()) == set()  # not before its deadline
    assert terminal.on_deadline("rec") is None
    clock.advance(901)
    assert store.stale_candidates(0, 0, clock()) == {"rec"}  # the detector's sweep finds it
    assert terminal.on_deadline("rec") is Due.HOLD
    released = store.get("rec")
    assert released.terminal is not None
    assert (released.terminal.status, released.terminal.webhookId, released.terminal.sent) == (
        "failed",
        "w1",
        True,
    )
    assert released.heldWebhook is None
    assert released.claimExpiresAt is None
    assert store.stale_candidates(0, 0, clock()) == set()
    (message,) = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["id"] == "w1"  # OpenVidu's own webhook, its own id
    assert terminal.on_deadline("rec") is None  # once


def test_the_sweep_hands_a_lapsed_hold_to_the_release(
    store: SessionStore, settings: Settings, clock: Any
) -> None:
    from hacore.failover.engine import FailoverEngine

    released: list[str] = []
    engine = FailoverEngine(store, Launches(), None, settings, clock, deadlines=released.append)  # type: ignore[arg-type]
    held_session(store)
    store.decide(
        "rec",
        lambda r, now: on_openvidu_terminal(r, "failed", FAILED, "w1", hold_until=now + 10)[0],
    )
    engine.sweep()
    assert released == []
    clock.advance(11)
    report = engine.sweep()
    assert released == ["rec"]
    assert report.takeovers == []
