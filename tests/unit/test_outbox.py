"""The outbox: a terminal we originate is decided in one write and queued after; a controller that
dies at any step in between loses nothing, and the customer's queue holds it once.

The crash is a BaseException raised by the AWS clients after k calls (`lifecycle_world`'s: no
`except Exception` on the way may swallow it: the process is gone). For every k along the clean path, a fresh
world runs the path to the crash, then what a restarted controller does: the recorder sends its
report again (it got no reply), the detector sweeps past the outbox deadline. Then the queue
holds exactly one terminal message for the recording, and the record says it was sent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.failover.engine import FailoverEngine
from hacore.lifecycle import OUTBOX_GRACE_S, Due
from hacore.models import Beat, FinalReport, Registration, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.terminal import ours_id
from hacore.webhooks.endpoints import endpoints_from
from hacore.webhooks.ingest import Ingest, QueueUnavailable
from hacore.webhooks.outcome import CustomerTerminal
from local.provision import create_queues, create_tables, physical_name
from local.template import Template
from tests.helpers import FakeClock
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher
from tests.unit.lifecycle_world import Calls, Crash, Dying

PLAYABLE = FinalReport(
    epoch=2, bucket="b", key="rec/m.mp4", size=9, duration=30, hasVideo=True, epochs=[1, 2]
)


class World:
    """One controller's parts on moto: the store and the customer's terminal, built on clients that
    may die (`crash_at`), and a queue that outlives the controller."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        self.sqs = boto3.client("sqs", region_name="us-east-1")
        template = Template.load()
        create_tables(self.dynamodb, template)
        self.queue = create_queues(self.sqs, template)["WebhookQueue"]
        self.settings = Settings.from_env(
            {
                "SESSIONS_TABLE": physical_name("SessionsTable"),
                "WEBHOOK_QUEUE_URL": self.queue,
                "OPENVIDU_WEBHOOK_ENDPOINT": "http://customer.example/hook",
            }
        )

    def controller(self, calls: Calls | None = None) -> tuple[SessionStore, CustomerTerminal]:
        dynamodb = Dying(self.dynamodb, calls) if calls else self.dynamodb
        sqs = Dying(self.sqs, calls) if calls else self.sqs
        store = SessionStore(dynamodb, self.settings.sessions_table, self.settings, self.clock)
        ingest = Ingest(sqs, self.settings, endpoints_from(self.settings))
        return store, CustomerTerminal(store, ingest, None, self.settings.finalize_timeout_s)

    def sweep(self) -> None:
        """The detector, restarted, after the outbox deadline."""
        store, terminal = self.controller()
        self.clock.advance(OUTBOX_GRACE_S + 1)
        FailoverEngine(
            store, RecordingLauncher(), NoChunks(), self.settings, self.clock, deadlines=terminal.on_deadline
        ).sweep()

    def terminals_queued(self) -> list[dict[str, Any]]:
        bodies = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                envelope = json.loads(message["Body"])
                body = json.loads(envelope["body"])
                if body.get("status") in ("ready", "failed"):
                    bodies.append({**body, "webhookId": envelope["id"]})
                self.sqs.delete_message(QueueUrl=self.queue, ReceiptHandle=message["ReceiptHandle"])
        return bodies


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def failed_over(store: SessionStore, sid: str) -> None:
    store.register(Registration(sessionId=sid, clientId="c"))
    store.heartbeat(sid, Beat(lastChunk="0003.mp4"))
    store.decide(sid, lambda r, now: r.model_copy(update={"epoch": 2, "status": Status.STOPPING}))


def stopped_without_chunks(store: SessionStore, sid: str) -> None:
    store.register(Registration(sessionId=sid, clientId="c"))
    store.set_status(sid, Status.STOPPING)


def report_final(world: World, terminal: CustomerTerminal, sid: str) -> None:
    terminal.report_final(sid, PLAYABLE)


def terminal_overdue(world: World, terminal: CustomerTerminal, sid: str) -> None:
    world.clock.advance(world.settings.terminal_timeout_s + 1)
    terminal.on_deadline(sid)


# (the setting-up, the path that decides our terminal, what the restarted world does, the terminal)
PATHS: dict[str, tuple[Callable[..., None], Callable[..., None], bool, str]] = {
    "a backup's final report: our ready": (failed_over, report_final, True, "ready"),
    "OpenVidu never said: our failed": (stopped_without_chunks, terminal_overdue, False, "failed"),
}


def run_path(world: World, name: str, crash_at: int | None) -> tuple[str, Calls]:
    """One recording (its own id) down the path, dying at call `crash_at`, then the restart."""
    setup, decide, retried, _ = PATHS[name]
    sid = f"rec-{crash_at}"
    store, _ = world.controller()
    setup(store, sid)
    calls = Calls()
    calls.crash_at = crash_at
    _, dying = world.controller(calls)
    crashed = False
    try:
        decide(world, dying, sid)
    except Crash:
        crashed = True
    if crashed and retried:  # the recorder got no reply: it reports again, to a live controller
        _, live = world.controller()
        live.report_final(sid, PLAYABLE)
    world.sweep()
    world.sweep()
    return sid, calls


@pytest.mark.parametrize("name", list(PATHS))
def test_no_terminal_is_lost_or_doubled_whatever_step_the_controller_dies_at(aws: None, name: str) -> None:
    _, _, _, status = PATHS[name]
    world = World(FakeClock())
    _, clean = run_path(world, name, None)
    assert clean.made >= 3  # the decision, the queueing, the mark: each a step to die at
    assert [t["status"] for t in world.terminals_queued()] == [status]
    for crash_at in range(clean.made):
        sid, _ = run_path(world, name, crash_at)
        queued = world.terminals_queued()
        where = f"crash at call {crash_at} of {clean.made}"
        assert [(t["webhookId"], t["status"]) for t in queued] == [(ours_id(sid, status), status)], where
        store, _ = world.controller()
        decided = store.get(sid).terminal
        assert decided is not None, where
        assert decided.sent, where
        assert sid not in store.stale_candidates(0, 0, world.clock()), where  # nothing owed


def test_an_unsent_terminal_waits_for_its_outbox_deadline_then_the_sweep_sends_it(aws: None) -> None:
    clock = FakeClock()
    world = World(clock)
    store, terminal = world.controller()
    failed_over(store, "rec")
    terminal._ingest = Ingest(None, world.settings, [])  # no queue: the decider cannot send
    with pytest.raises(QueueUnavailable):
        terminal.report_final("rec", PLAYABLE)
    pending = store.get("rec").terminal
    assert pending is not None
    assert (pending.sent, pending.dueAt) == (False, clock() + OUTBOX_GRACE_S)
    assert store.stale_candidates(0, 0, clock()) == set()  # not before its deadline
    clock.advance(OUTBOX_GRACE_S)
    assert store.stale_candidates(0, 0, clock()) == {"rec"}
    _, fresh = world.controller()
    assert fresh.on_deadline("rec") is Due.OUTBOX
    assert store.get("rec").terminal.sent  # type: ignore[union-attr]
    assert [t["status"] for t in world.terminals_queued()] == ["ready"]
