"""The planned side of the sweep: what a session's planned deadline (`hacore.lifecycle`) does
when it passes, and what a media node's going does. A late handover is abandoned; a recorder of
APP_MAX_RECORDER_AGE is rotated; a redundant recording's shadow is started, or given up when
silent; a node going is drained, or, going now, its recordings are taken over. Each failure is
logged and tried again by the next sweep: the owner records on meanwhile."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from hacore.errors import DomainError, SessionNotFound
from hacore.failover.drains import Drains
from hacore.failover.handover import ROTATION, Handovers
from hacore.failover.host_events import INSTANCE_STOPPING, HostEvent
from hacore.failover.report import Takeover
from hacore.failover.shadow import Shadows
from hacore.lifecycle import Due
from hacore.models import SessionRecord

log = logging.getLogger("hacore.failover")
PLANNED = frozenset({Due.HANDOVER, Due.ROTATE, Due.SHADOW})


class Planned:
    def __init__(
        self,
        handovers: Handovers,
        shadows: Shadows,
        drains: Drains,
        take_over: Callable[[str, str], Takeover],
    ) -> None:
        self.handovers = handovers
        self.shadows = shadows
        self.drains = drains
        self.take_over = take_over

    def on_deadline(self, record: SessionRecord, due: Due) -> tuple[SessionRecord, bool]:
        """(the record as it is now, whether the sweep is done with it this time)."""
        try:
            if due is Due.HANDOVER:
                return self.handovers.abandon(record, "its recorder stored no chunk in time"), False
            if due is Due.ROTATE:
                self.handovers.start(record.sessionId, ROTATION)
                return record, True
            if due is Due.SHADOW:
                self.shadows.step(record)
        except DomainError:  # no longer RECORDING, or changed meanwhile: nothing to do now
            return record, due is Due.ROTATE
        except Exception:  # the owner records on: the next sweep tries again
            log.exception("the %s deadline of %s could not be acted on", due.value, record.sessionId)
        return record, False

    def on_host_event(self, event: HostEvent) -> dict[str, Any]:
        """A node going (`hacore.failover.host_events`): drained, or its recordings taken over now."""
        if event.action == "drain":
            return {"drain": asdict(self.drains.start(event.instance_id, event.lifecycle))}
        taken = []
        for record in self.drains.on(event.instance_id):
            try:
                taken.append(asdict(self.take_over(record.sessionId, INSTANCE_STOPPING)))
            except (DomainError, SessionNotFound):  # ended, or claimed by a sweep, meanwhile
                continue
        return {"host": event.instance_id, "takeovers": taken}
