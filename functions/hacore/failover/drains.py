"""Draining a media node: every live recording its recorders own is handed over, make-before-break,
a few at a time (APP_DRAIN_CONCURRENCY), until the node records nothing. Then the Auto Scaling
lifecycle action that asked for it, if one did, is completed, and the node may go.

A drain is an item in the control table (`drain#<host>`) so that every sweep carries it on: a
drain asked for once (the API, Spot's two-minute warning, a lifecycle hook) needs nothing more.
`host` is the media node's name as its recorders register it (`clientHost`), or its EC2 instance
id (`instanceId`). A recording belongs to the node while the recorder there owns it: one handed
over to a backup or a standby elsewhere no longer does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.errors import DomainError
from hacore.failover.guard import host_of
from hacore.failover.handover import DRAIN, Handovers
from hacore.metrics import MetricSink
from hacore.models import SessionRecord, Status
from hacore.sessions.store import SessionStore
from hacore.versioned import Codec, Items

log = logging.getLogger("hacore.drain")
PREFIX = "drain#"
KEEP_S = 86400.0  # a drain never finished (its node gone, its sessions ended elsewhere) is forgotten


@dataclass(frozen=True)
class Drain:
    host: str
    startedAt: float
    lifecycle: dict[str, str] | None = None  # the Auto Scaling lifecycle action to complete once empty
    version: int = 0


@dataclass(frozen=True)
class DrainReport:
    host: str
    draining: bool  # a drain is under way (False: asked of a node already empty, or only looked at)
    live: int  # recordings the node's recorders still own
    handingOver: int  # of those, with a handover under way
    waiting: int  # of those, not handed over yet (a few at a time; STARTING ones wait for a chunk)
    startedNow: list[str]  # handovers this step began

    @property
    def empty(self) -> bool:
        return self.live == 0


def on_host(record: SessionRecord, host: str) -> bool:
    """The recording is live and its owner runs on `host` (its name, or its EC2 instance id)."""
    if record.status not in (Status.STARTING, Status.RECORDING):
        return False
    owner = host_of(record)
    primary_owns = owner == (record.clientHost or record.clientId or record.sessionId)
    return owner == host or (primary_owns and record.instanceId is not None and record.instanceId == host)


def next_handovers(records: list[SessionRecord], concurrency: int) -> list[str]:
    """The sessions to hand over now: the oldest RECORDING ones not under way, up to the concurrency."""
    under_way = sum(1 for r in records if r.handover is not None)
    ready = [r for r in records if r.handover is None and r.status is Status.RECORDING]
    return [r.sessionId for r in sorted(ready, key=lambda r: r.createdAt)][: max(0, concurrency - under_way)]


def _dump(drain: Drain) -> dict[str, Any]:
    return {
        "name": PREFIX + drain.host,
        "host": drain.host,
        "startedAt": drain.startedAt,
        "lifecycle": drain.lifecycle,
        "version": drain.version,
        "expiresAt": int(drain.startedAt + KEEP_S),
    }


def _load(data: dict[str, Any]) -> Drain:
    return Drain(data["host"], float(data["startedAt"]), data.get("lifecycle"), int(data["version"]))


CODEC: Codec[Drain] = Codec(key="name", dump=_dump, load=_load, version=lambda d: d.version)


class Drains:
    def __init__(
        self,
        store: SessionStore,
        handovers: Handovers,
        items: Items[Drain],
        concurrency: int,
        metrics: MetricSink,
        complete_lifecycle: Callable[[dict[str, str]], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.handovers = handovers
        self.items = items
        self.concurrency = concurrency
        self.metrics = metrics
        self.complete_lifecycle = complete_lifecycle
        self.clock = clock

    def start(self, host: str, lifecycle: dict[str, str] | None = None) -> DrainReport:
        """Begins (or joins) the drain of `host`, and takes its first step now."""
        current = self.items.find(PREFIX + host)
        if current is None:
            self.items.put(Drain(host, self.clock(), lifecycle), None)
            self.metrics.add_metric(name="Drains", unit="Count", value=1)
            log.warning(
                "draining %s%s", host, " (an Auto Scaling lifecycle action waits)" if lifecycle else ""
            )
        elif lifecycle and current.lifecycle != lifecycle:  # a lifecycle hook joins a drain under way
            self.items.put(Drain(host, current.startedAt, lifecycle, current.version + 1), current.version)
        return self.step(host)

    def status(self, host: str) -> DrainReport:
        records = self.on(host)
        return self._report(host, records, [], self.items.find(PREFIX + host) is not None)

    def step(self, host: str) -> DrainReport:
        """Hands over the next few of the node's recordings; once it owns none, the drain ends."""
        records = self.on(host)
        started = []
        for session_id in next_handovers(records, self.concurrency):
            try:
                self.handovers.start(session_id, DRAIN)
                started.append(session_id)
            except DomainError as error:  # ended, or taken over, since it was listed: the next step sees
                log.info("drain of %s: %s not handed over: %s", host, session_id, error)
        if started:
            records = self.on(host)
        drain = self.items.find(PREFIX + host)
        if not records and drain is not None:
            self._finish(drain)
            return self._report(host, records, started, False)
        return self._report(host, records, started, drain is not None)

    def sweep(self) -> list[DrainReport]:
        """Every drain under way, one step each (the detector's sweep)."""
        reports = []
        for drain in self.items.scan(PREFIX):
            try:
                reports.append(self.step(drain.host))
            except Exception:  # one node's trouble never stops the others' drains
                log.exception("the drain of %s failed this sweep; the next one tries", drain.host)
        return reports

    def on(self, host: str) -> list[SessionRecord]:
        """The live recordings `host`'s recorders own (a listing of the active sessions)."""
        return [r for r in self.store.list(active=True) if on_host(r, host)]

    def _report(
        self, host: str, records: list[SessionRecord], started: list[str], draining: bool
    ) -> DrainReport:
        under_way = sum(1 for r in records if r.handover is not None)
        return DrainReport(host, draining, len(records), under_way, len(records) - under_way, started)

    def _finish(self, drain: Drain) -> None:
        if not self.items.delete(PREFIX + drain.host):
            return  # another sweep finished it first
        log.warning("%s is drained: it records nothing (%.0fs)", drain.host, self.clock() - drain.startedAt)
        self.metrics.add_metric(name="DrainSeconds", unit="Seconds", value=self.clock() - drain.startedAt)
        if drain.lifecycle and self.complete_lifecycle is not None:
            try:
                self.complete_lifecycle(drain.lifecycle)
                log.warning("completed the lifecycle action of %s: the node may go", drain.host)
            except Exception:  # the hook's own timeout completes it: late, never stuck
                log.exception("could not complete the lifecycle action of %s", drain.host)
