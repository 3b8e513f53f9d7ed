"""A recording's whole world for the lifecycle property test (and its longer run in `make bench`):
the controller's real parts on moto (the store, the engine, the customer's terminal, the session
effects), driven by a model of everything around them:

* recorders (the primary, each backup the launcher starts, each finalizer) that heartbeat, store
  chunks in S3, die, are cut off from the controller, see the fence marker, finalize and report;
* OpenVidu, which sends `stopped` and its terminal (`ready` while its own container lives,
  `failed` otherwise) in any order, or not at all (it threw first), and judges only its own;
* the relay, which applies what a queued webhook says and tells the customer the terminals;
* the controller dying between any two AWS calls (`crash`): the call raises `Crash`, which no
  `except Exception` swallows, and the step is lost (a webhook or a report comes again).

`Steps` are what hypothesis draws; `World.finish` then lets time run with no more faults and
returns how long the recording took to reach its end. The property: within `bound_s`, the
customer got exactly one terminal, nothing is owed, and no recorder is left running.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hacore.chunks import ChunkIndex, StoredChunks
from hacore.errors import DomainError
from hacore.failover.engine import FailoverEngine
from hacore.launchers import BackupInfo, BackupSpec
from hacore.lifecycle import OUTBOX_GRACE_S, due_for
from hacore.models import Beat, FinalReport, Registration
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.effects import SessionEffects
from hacore.webhooks.endpoints import endpoints_from
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Ingest
from hacore.webhooks.outcome import CustomerTerminal
from tests.helpers import FakeClock

TERMINALS = ("ready", "failed")


def world_settings(table: str, queue: str) -> Settings:
    return Settings.from_env(
        {
            "HA_TIMING": "fast",
            "SESSIONS_TABLE": table,
            "WEBHOOK_QUEUE_URL": queue,
            "OPENVIDU_WEBHOOK_ENDPOINT": "http://customer.example/hook",
            "APP_FINALIZE_TIMEOUT": "40",
        }
    )


def bound_s(settings: Settings) -> float:
    """The longest a recording may take from OpenVidu's stop to the customer's terminal, when the
    world misbehaves in every way the model knows: a silent recorder found, every takeover attempt
    spent, OpenVidu's terminal never sent, the finalizer never reporting, the outbox's wait."""
    return (
        settings.heartbeat_timeout_s
        + settings.stuck_chunk_timeout_s
        + settings.max_failover_attempts * (settings.backup_start_deadline_s + settings.check_interval_s)
        + settings.terminal_timeout_s
        + settings.finalize_timeout_s
        + OUTBOX_GRACE_S
        + 10 * settings.check_interval_s
    )


class Crash(BaseException):
    """The controller's process died in the middle of a step."""


class Calls:
    def __init__(self) -> None:
        self.made = 0
        self.crash_at: int | None = None
        self.crashes = 0

    def tick(self) -> None:
        self.made += 1
        if self.crash_at is not None and self.made > self.crash_at:
            self.crash_at = None
            self.crashes += 1
            raise Crash


class Dying:
    """An AWS client whose next calls may be the controller's last."""

    def __init__(self, client: Any, calls: Calls) -> None:
        self._client, self._calls = client, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in ("get_paginator", "exceptions", "meta"):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.tick()
            return attribute(*args, **kwargs)

        return call


@dataclass
class Recorder:
    epoch: int
    chunk: int
    heard: bool = True  # its controller traffic arrives (S3 always does)
    alive: bool = True
    stopping: bool = False  # asked to stop gracefully: it finalizes, reports, exits
    finalizer: bool = False  # joins what S3 holds, reports, exits; records nothing


@dataclass
class S3(ChunkIndex):
    """What the bucket holds of the recording: the newest chunk, when each epoch stored, fences."""

    clock: FakeClock = field(default_factory=FakeClock)
    stored: StoredChunks = field(default_factory=StoredChunks)
    fences: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__init__(None, None)

    def store_chunk(self, epoch: int, index: int) -> None:
        self.stored.newest = index if self.stored.newest is None else max(self.stored.newest, index)
        self.stored.last_stored_at[epoch] = self.clock()

    def scan(self, session_id: str) -> StoredChunks:
        return self.stored

    def newest(self, session_id: str) -> int | None:
        return self.stored.newest

    def fence(self, session_id: str, epoch: int) -> bool:
        self.fences.add(epoch)
        return True

    def fenced(self, epoch: int) -> bool:
        return any(f > epoch for f in self.fences)


class Platform:
    """The launcher: each backup or finalizer it starts is a recorder of the model."""

    name = "model"

    def __init__(self, world: World) -> None:
        self.world = world

    def launch(self, spec: BackupSpec) -> str:
        self.world.calls.tick()  # the launch is a call the controller can die at, too
        finalizer = spec.action == "finalize"
        ref = f"{spec.action}-e{spec.epoch}"
        if ref not in self.world.recorders:
            self.world.recorders[ref] = Recorder(spec.epoch, int(spec.start_chunk), finalizer=finalizer)
        return ref

    def stop(self, ref: str, force: bool = False) -> bool:
        recorder = self.world.recorders.get(ref)
        if recorder is None or not recorder.alive:
            return False
        if force:
            recorder.alive = False
        else:
            recorder.stopping = True
        return True

    def describe(self, ref: str) -> BackupInfo | None:
        recorder = self.world.recorders.get(ref)
        if recorder is None:
            return None
        state = "running" if recorder.alive else "exited"
        return BackupInfo(ref, self.world.sid, recorder.epoch, None, state, self.name)

    def list(self) -> list[BackupInfo]:
        infos = [self.describe(ref) for ref in self.world.recorders]
        return [i for i in infos if i is not None and i.state == "running"]

    def health(self) -> dict[str, Any]:
        return {"launcher": self.name, "healthy": True}


class World:
    def __init__(self, dynamodb: Any, sqs: Any, settings: Settings, sid: str) -> None:
        self.sid, self.settings, self.sqs = sid, settings, sqs
        self.clock = FakeClock()
        self.calls = Calls()
        self.s3 = S3(self.clock)
        self.recorders: dict[str, Recorder] = {"primary": Recorder(1, 0)}
        self.platform = Platform(self)
        dying_db, dying_sqs = Dying(dynamodb, self.calls), Dying(sqs, self.calls)
        self.store = SessionStore(dying_db, settings.sessions_table, settings, self.clock)
        self.terminal = CustomerTerminal(
            self.store,
            Ingest(dying_sqs, settings, endpoints_from(settings)),
            self._engine,
            settings.finalize_timeout_s,
        )
        self.engine = FailoverEngine(
            self.store, self.platform, self.s3, settings, self.clock, deadlines=self.terminal.on_deadline
        )
        self.effects = SessionEffects(self.store, self._engine)
        # the relay: another function, on clients of its own (the controller's crash is not its)
        relay_store = SessionStore(dynamodb, settings.sessions_table, settings, self.clock)
        self.relay_terminal = CustomerTerminal(relay_store, Ingest(sqs, settings, endpoints_from(settings)))
        self.openvidu: list[tuple[str, dict[str, Any]]] = []  # webhooks OpenVidu has yet to deliver
        self.openvidu_stopped = False
        self.lost = False  # one of OpenVidu's webhooks was never sent
        self.customer: list[tuple[str, str]] = []  # (webhook id, status) of every terminal delivered
        self.record: Any = None  # the session as it ended (set by whoever ran the world)
        self.store.register(Registration(sessionId=sid, clientId="media-node-1"))
        self._act(lambda: self.store.heartbeat(sid, Beat(epoch=1, lastChunk="0000.mp4")))
        self.s3.store_chunk(1, 0)

    @property
    def crashes(self) -> int:
        return self.calls.crashes

    def _engine(self) -> FailoverEngine:
        return self.engine

    def _act(self, step: Any) -> bool:
        """Runs one of the controller's steps; False if the controller died in it."""
        try:
            step()
        except Crash:
            return False
        except DomainError:  # a refusal (a fenced epoch, a session that changed): the caller's business
            return True
        return True

    # --- what happens in the world ----------------------------------------------------------

    def owner(self) -> Recorder | None:
        alive = [r for r in self.recorders.values() if r.alive and not r.finalizer]
        return max(alive, key=lambda r: r.epoch) if alive else None

    def tick(self, seconds: float) -> None:
        """Time passes; every live recorder stores a chunk per chunk and heartbeats if it is heard."""
        chunk_s = self.settings.chunk_time_size_s
        left = seconds
        while left > 0:
            step = min(chunk_s, left)
            self.clock.advance(step)
            left -= step
            for recorder in list(self.recorders.values()):
                self._record(recorder)
            self.drain()

    def jump(self, seconds: float) -> None:
        """The clock jumps (a suspended host, a corrected clock): nobody acts meanwhile; the
        detector's schedule then runs a sweep at the new time."""
        self.clock.advance(seconds)
        self.sweep()

    def _record(self, recorder: Recorder) -> None:
        if not recorder.alive or recorder.finalizer or recorder.stopping:
            return
        if self.s3.fenced(recorder.epoch):  # it looks for the marker before each upload
            recorder.alive = False
            return
        recorder.chunk += 1
        self.s3.store_chunk(recorder.epoch, recorder.chunk)
        if recorder.heard:
            beat = Beat(epoch=recorder.epoch, lastChunk=f"{recorder.chunk:04d}.mp4")
            try:
                self.store.heartbeat(self.sid, beat)
            except DomainError:  # 409: a newer epoch owns the session
                recorder.alive = False
            except Crash:
                pass

    def kill(self) -> None:
        owner = self.owner()
        if owner is not None:
            owner.alive = False

    def cut(self) -> None:
        owner = self.owner()
        if owner is not None:
            owner.heard = not owner.heard

    def openvidu_stop(self) -> None:
        """OpenVidu stops its recording: `stopped`, then its terminal, judged by its own container."""
        if self.openvidu_stopped:
            return
        self.openvidu_stopped = True
        primary = self.recorders["primary"]
        alive = primary.alive and not self.s3.fenced(1)
        if alive:
            primary.stopping = True  # the `q`: it finalizes and reports
        self.openvidu += [
            (
                f"ov-stopped-{self.sid}",
                {"event": "recordingStatusChanged", "id": self.sid, "status": "stopped"},
            ),
            (
                f"ov-terminal-{self.sid}",
                {"event": "recordingStatusChanged", "id": self.sid, "status": "ready" if alive else "failed"},
            ),
        ]

    def deliver(self, pick: int) -> None:
        """One of OpenVidu's pending webhooks reaches the controller (any order); the relay applies
        it and tells the customer what it decides. A crash leaves it pending: it comes again."""
        if not self.openvidu:
            return
        webhook_id, body = self.openvidu[pick % len(self.openvidu)]
        event = parse_event(json.dumps(body))
        verdict: list[str] = []

        def relay() -> None:  # what the relay does with it: the session effects, then the verdict
            self.effects.apply(event)
            verdict.append(self.terminal.verdict(event, body, webhook_id))

        if self._act(relay):
            self.openvidu.remove((webhook_id, body))
            if verdict and verdict[0] == "relay" and body["status"] in TERMINALS:
                self.customer.append((webhook_id, body["status"]))
        self.drain()

    def lose(self, pick: int) -> None:
        """OpenVidu never sends this one (it threw first). One of its two, at most: with neither
        `stopped` nor a terminal, nothing tells anyone that the recording was stopped."""
        if self.openvidu and not self.lost:
            self.openvidu.pop(pick % len(self.openvidu))
            self.lost = True

    def report(self) -> None:
        """Every recorder that was asked to finalize reports its final file, then exits."""
        for recorder in list(self.recorders.values()):
            if not recorder.alive or not (recorder.stopping or recorder.finalizer) or not recorder.heard:
                continue  # (one cut off from the controller reports once it is heard again)
            playable = self.s3.stored.newest is not None
            final = FinalReport(
                epoch=recorder.epoch,
                key=f"{self.sid}/final.mp4" if playable else None,
                hasVideo=playable,
                duration=float(self.s3.stored.newest or 0),
                finalizedBy="finalizer" if recorder.finalizer else None,
            )
            try:
                self.terminal.report_final(self.sid, final)
            except Crash:
                continue  # no reply: it reports again
            except DomainError:  # fenced: a newer epoch owns it
                pass
            recorder.alive = False
        self.drain()

    def sweep(self) -> None:
        self._act(self.engine.sweep)
        self.drain()

    def crash(self, after: int) -> None:
        """The controller dies at its `after`-th AWS call from now."""
        self.calls.crash_at = self.calls.made + after

    def drain(self) -> None:
        """The relay: each queued webhook of ours, judged as the relay judges it, to the customer."""
        while messages := self.sqs.receive_message(
            QueueUrl=self.settings.webhook_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        ).get("Messages", []):
            for message in messages:
                envelope = json.loads(message["Body"])
                body = json.loads(envelope["body"])
                if body.get("id") == self.sid and body.get("status") in TERMINALS:
                    verdict = self.relay_terminal.verdict(parse_event(envelope["body"]), body, envelope["id"])
                    if verdict == "relay":
                        self.customer.append((envelope["id"], body["status"]))
                self.sqs.delete_message(
                    QueueUrl=self.settings.webhook_queue_url, ReceiptHandle=message["ReceiptHandle"]
                )

    # --- the end ----------------------------------------------------------------------------

    def finish(self, finalizers_report: bool) -> float:
        """No more faults: OpenVidu stops the recording (if it has not), its pending webhooks
        arrive, recorders that are asked to finalize report (finalizers only if `finalizers_report`),
        and the detector sweeps. Returns the seconds from the stop to the end (or to the bound)."""
        self.calls.crash_at = None
        for recorder in self.recorders.values():
            recorder.heard = True  # partitions heal
        self.openvidu_stop()
        began = self.clock()
        limit = began + bound_s(self.settings)
        while self.clock() < limit and not self.ended():
            while self.openvidu:
                self.deliver(0)
            if finalizers_report:
                self.report()
            else:
                self._report_recorders_only()
            self.sweep()
            self.tick(self.settings.check_interval_s)
        return self.clock() - began

    def _report_recorders_only(self) -> None:
        finalizers = {ref: r for ref, r in self.recorders.items() if r.finalizer and r.alive}
        for recorder in finalizers.values():
            recorder.alive = False  # it dies without a report: the hold's deadline answers
        self.report()

    def ended(self) -> bool:
        record = self.store.find(self.sid)
        return (
            record is not None
            and record.terminal is not None
            and record.terminal.sent
            and due_for(record) is None
            and not record.active
            and not any(r.alive for r in self.recorders.values())
            and bool(self.customer)
        )
