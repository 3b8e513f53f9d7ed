"""What OpenVidu's recordingStatusChanged events do to a session. Idempotent: applied at ingest
and again by the relay worker, the same event twice changes nothing more.

* stopped: the session stops (STOPPING, inactive); a running backup recorder is asked to stop
  gracefully so that it finalizes (it marks the session COMPLETED); FAILED if that stop fails.
* ready: COMPLETED; a backup still running (OpenVidu's `stopped` was lost, and its own
  container lived on) is asked to stop gracefully too, or it would record forever.
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
from hacore.sessions.store import SessionStore
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
            try:
                stopped = self._stop_backup(record)
            except Exception as error:  # OpenVidu's ready stands; the orphan is logged
                log.error("stopping the backup of %s failed: %s", record.sessionId, error)
                stopped = None
            if record.status is Status.COMPLETED:
                return "already COMPLETED"
            self._store.set_status(record.sessionId, Status.COMPLETED)
            return "COMPLETED" + (f", {stopped}" if stopped else "")
        if status == "failed":
            return self._stopped(record)
        return f"no effect for status {status}"

    def _stopped(self, record: SessionRecord) -> str:
        if record.status in ENDED:
            return f"already {record.status.value}"
        try:
            stopped = self._stop_backup(record)
        except Exception as error:
            log.error("stopping the backup of %s failed: %s", record.sessionId, error)
            self._store.set_status(record.sessionId, Status.FAILED)
            return f"FAILED: the backup could not be stopped ({type(error).__name__})"
        self._store.set_status(record.sessionId, Status.STOPPING)
        return "STOPPING" + (f", {stopped}" if stopped else "")

    def _stop_backup(self, record: SessionRecord) -> str | None:
        refs = self._engine().stop_backups(record)
        return f"{len(refs)} backup(s) asked to stop gracefully (each finalizes)" if refs else None
