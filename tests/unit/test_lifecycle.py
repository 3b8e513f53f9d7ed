"""The lifecycle table: every state that is not an end has a deadline, and an ended recording that
OpenVidu never gave a terminal gets our truthful one within its deadline."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from hacore.failover.engine import FailoverEngine
from hacore.lifecycle import ENDED, TABLE, Due, deadline, due_for, overdue, settle
from hacore.models import Beat, FinalReport, Registration, SessionRecord, Status, Terminal
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.terminal import ours_id
from hacore.webhooks.endpoints import endpoints_from
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.outcome import CustomerTerminal
from tests.helpers import FakeClock
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher

SETTINGS = Settings.from_env({})
PLAYABLE = FinalReport(bucket="b", key="rec/m.mp4", size=9, duration=30, hasVideo=True, epochs=[1])


def bare(status: Status, **changes: Any) -> SessionRecord:
    return SessionRecord(
        sessionId="rec",
        clientId="c",
        createdAt=0,
        updatedAt=0,
        lastHeartbeatAt=0,
        lastChunkChangedAt=0,
        expiresAt=10**10,
        status=status,
        **changes,
    )


# --- the table, pure ------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(ENDED))
def test_an_ended_recording_without_a_terminal_is_given_a_deadline(status: Status) -> None:
    settled = settle(bare(status), 100, SETTINGS)
    assert due_for(settled) is Due.TERMINAL
    assert deadline(settled) == 100 + SETTINGS.terminal_timeout_s
    assert overdue(settled, 100 + SETTINGS.terminal_timeout_s - 1) is None
    assert overdue(settled, 100 + SETTINGS.terminal_timeout_s) is Due.TERMINAL


def test_a_decided_unsent_terminal_is_the_outbox_and_a_sent_one_ends_every_deadline() -> None:
    unsent = Terminal(status="ready", webhookId="x", body={"status": "ready"}, sent=False)
    settled = settle(bare(Status.COMPLETED, terminal=unsent), 100, SETTINGS)
    assert (due_for(settled), deadline(settled)) == (Due.OUTBOX, 130)
    done = settle(
        settled.model_copy(update={"terminal": unsent.model_copy(update={"sent": True})}), 200, SETTINGS
    )
    assert (due_for(done), deadline(done), done.terminalDueAt) == (None, None, None)


def test_live_states_have_the_watch_indexes_and_the_claim_its_own_deadline() -> None:
    for status in (Status.STARTING, Status.RECORDING, Status.PAUSED):
        assert deadline(settle(bare(status), 0, SETTINGS)) is None
    claimed = bare(Status.FAILING_OVER, claimExpiresAt=80.0)
    assert (due_for(claimed), deadline(claimed)) == (Due.CLAIM, 80.0)


def test_the_table_names_every_status_that_is_not_an_end() -> None:
    text = " ".join(state for state, _, _ in TABLE)
    for status in (Status.STARTING, Status.RECORDING, Status.FAILING_OVER, Status.PAUSED):
        assert status.value in text


# --- through the store and the sweep ---------------------------------------------------


class Finalizers:
    def __init__(self) -> None:
        self.launched: list[str] = []
        self.launcher = self

    def launch_finalizer(self, session_id: str, why: str) -> str:
        self.launched.append(session_id)
        return "finalizer"

    def describe(self, ref: str) -> None:
        return None


@pytest.fixture
def world(dynamodb: Any, store: SessionStore, settings: Settings, clock: FakeClock) -> Any:
    from local.provision import create_queues
    from local.template import Template

    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = create_queues(sqs, Template.load())["WebhookQueue"]
    wired = Settings.from_env({"WEBHOOK_QUEUE_URL": queue, "OPENVIDU_WEBHOOK_ENDPOINT": "http://c/h"})
    finalizers = Finalizers()
    terminal = CustomerTerminal(store, Ingest(sqs, wired, endpoints_from(wired)), lambda: finalizers)  # type: ignore[arg-type, return-value]
    engine = FailoverEngine(
        store, RecordingLauncher(), NoChunks(), settings, clock, deadlines=terminal.on_deadline
    )

    def queued() -> list[dict[str, Any]]:
        found = []
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                envelope = json.loads(message["Body"])
                found.append({**json.loads(envelope["body"]), "webhookId": envelope["id"]})
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        return found

    return terminal, engine, finalizers, queued


def stopping(store: SessionStore, chunks: bool) -> None:
    store.register(Registration(sessionId="rec", clientId="c"))
    if chunks:
        store.heartbeat("rec", Beat(lastChunk="0004.mp4"))
    store.set_status("rec", Status.STOPPING)  # OpenVidu's `stopped`: and then nothing


def sweep_until_terminal(
    engine: FailoverEngine, store: SessionStore, clock: FakeClock, limit: float
) -> float:
    began = clock()
    while store.get("rec").terminal is None or not store.get("rec").terminal.sent:  # type: ignore[union-attr]
        assert clock() - began <= limit, "no terminal within its deadline"
        clock.advance(SETTINGS.check_interval_s)
        engine.sweep()
    return clock() - began


def test_stopping_with_nothing_recorded_ends_with_our_failed_at_its_deadline(
    world: Any, store: SessionStore, clock: FakeClock, settings: Settings
) -> None:
    terminal, engine, finalizers, queued = world
    stopping(store, chunks=False)
    took = sweep_until_terminal(engine, store, clock, settings.terminal_timeout_s + settings.check_interval_s)
    assert took >= settings.terminal_timeout_s
    (sent,) = queued()
    assert (sent["status"], sent["webhookId"], sent["id"]) == ("failed", ours_id("rec", "failed"), "rec")
    assert finalizers.launched == []
    late = {"event": "recordingStatusChanged", "id": "rec", "status": "failed"}
    assert terminal.verdict(parse_event(json.dumps(late)), late, "openvidu-late") == "drop"


def test_stopping_with_chunks_is_finalized_and_the_playable_file_is_our_ready(
    world: Any, store: SessionStore, clock: FakeClock, settings: Settings
) -> None:
    terminal, engine, finalizers, queued = world
    stopping(store, chunks=True)
    clock.advance(settings.terminal_timeout_s)
    engine.sweep()
    assert finalizers.launched == ["rec"]  # the chunks become a file
    held = store.get("rec")
    assert held.heldWebhook is not None
    assert due_for(held) is Due.HOLD
    assert queued() == []  # nothing told yet: the file may still be made
    terminal.report_final("rec", PLAYABLE)
    (sent,) = queued()
    assert (sent["status"], sent["webhookId"], sent["size"]) == ("ready", ours_id("rec", "ready"), 9)
    assert store.get("rec").terminal.sent  # type: ignore[union-attr]


def test_a_finalizer_that_never_reports_ends_in_our_failed_at_the_finalize_deadline(
    world: Any, store: SessionStore, clock: FakeClock, settings: Settings
) -> None:
    _, engine, _, queued = world
    stopping(store, chunks=True)
    clock.advance(settings.terminal_timeout_s)
    engine.sweep()
    took = sweep_until_terminal(engine, store, clock, settings.finalize_timeout_s + settings.check_interval_s)
    assert took >= settings.finalize_timeout_s - settings.check_interval_s
    assert [(m["status"], m["webhookId"]) for m in queued()] == [("failed", ours_id("rec", "failed"))]


def test_a_completed_file_whose_ready_openvidu_never_sent_is_our_ready(
    world: Any, store: SessionStore, clock: FakeClock, settings: Settings
) -> None:
    terminal, engine, _, queued = world
    store.register(Registration(sessionId="rec", clientId="c"))
    store.set_status("rec", Status.STOPPING)
    terminal.report_final("rec", PLAYABLE)  # the primary finalized; OpenVidu then threw
    assert store.get("rec").status is Status.COMPLETED
    assert queued() == []
    sweep_until_terminal(engine, store, clock, settings.terminal_timeout_s + settings.check_interval_s)
    assert [m["status"] for m in queued()] == ["ready"]


def test_openvidus_terminal_in_time_leaves_nothing_owed(
    world: Any, store: SessionStore, clock: FakeClock, settings: Settings
) -> None:
    terminal, engine, _, queued = world
    stopping(store, chunks=True)
    ready = {"event": "recordingStatusChanged", "id": "rec", "status": "ready"}
    assert terminal.verdict(parse_event(json.dumps(ready)), ready, "openvidu-ready") == "relay"
    clock.advance(settings.terminal_timeout_s * 3)
    assert engine.sweep().candidates == 0
    assert queued() == []


def test_the_docs_show_the_table_the_code_keeps() -> None:
    from pathlib import Path

    from hacore.lifecycle import as_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md"
    assert as_markdown() in docs.read_text()
