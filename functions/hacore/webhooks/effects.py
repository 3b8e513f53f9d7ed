"""What OpenVidu's recordingStatusChanged events do to a session. Idempotent: applied at ingest
and again by the relay worker, the same event twice changes nothing more.

* stopped: the session stops (STOPPING, inactive); a running backup recorder is asked to stop
  gracefully so that it finalizes (it marks the session COMPLETED); FAILED if that stop fails.
* ready: COMPLETED.
* failed: OpenVidu is done with the recording (its start failed, or its container did not
  end well): the session ends as on `stopped`, and a running backup is asked to stop
  gracefully, so that whatever was recorded is finalized (the original left such recordings
  active). No takeover: nobody would ever stop it. What the customer is told is
  `hacore.terminal`'s business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hacore.failover.engine import FailoverEngine
from hacore.models import SessionRecord, Status
from hacore.store import SessionStore
from hacore.webhooks.events import OpenViduEvent

log = logging.getLogger("hacore.webhooks")
ENDED = (Status.STOPPING, Status.COMPLETED, Status.FAILED, Status.INACTIVE)


class SessionEffects:
    def __init__(self, store: SessionStore, engine: Callable[[], FailoverEngine]) -> None:
        self._store = store
        self._engine = engine

    def apply(self, event: OpenViduEvent | None) -> str:
        """Applies the event; returns what it did, for logs and tests."""
        status = event.recording_status if event else None
        if event is None or status is None or event.id is None:
            return "no session effect"
        record = self._store.find(event.id)
        if record is None:
            return f"no session {event.id}"
        if status == "stopped":
            return self._stopped(record)
        if status == "ready":
            if record.status is Status.COMPLETED:
                return "already COMPLETED"
            self._store.set_status(record.sessionId, Status.COMPLETED)
            return "COMPLETED"
        if status == "failed":
            return self._stopped(record)
        return f"no effect for status {status}"

    def _stopped(self, record: SessionRecord) -> str:
        if record.status in ENDED:
            return f"already {record.status.value}"
        outcome = "STOPPING"
        if record.launcherRef:
            engine = self._engine()
            try:
                backup = engine.launcher.describe(record.launcherRef)
                if backup is not None and backup.state == "running":
                    engine.launcher.stop(record.launcherRef, force=False)
                    outcome = "STOPPING, backup asked to stop gracefully (it finalizes)"
            except Exception as error:
                log.error("stopping the backup of %s failed: %s", record.sessionId, error)
                self._store.set_status(record.sessionId, Status.FAILED)
                return f"FAILED: the backup could not be stopped ({type(error).__name__})"
        self._store.set_status(record.sessionId, Status.STOPPING)
        return outcome
