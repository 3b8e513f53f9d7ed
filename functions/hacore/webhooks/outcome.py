"""Sends what `hacore.terminal` decides: the customer's one terminal event per recording.

The decision is stored first, with `sent` false, in the one conditional write that decides it:
the outbox. Then it is queued, then marked sent. A crash anywhere in between leaves it decided
and unsent; the detector's sweep queues it once its outbox deadline passes
(`hacore.lifecycle`). Every copy has the same webhook id, hence the same FIFO deduplication id:
a second queueing within SQS's five minutes is dropped by SQS, so the customer gets it once. If
queueing fails, the caller fails (the recorder's report gets 503 and is sent again; the relay's
message is retried) and the sweep tries as well: owed, never lost.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hacore.errors import SessionNotFound, StaleEpoch
from hacore.lifecycle import Due, overdue
from hacore.models import FinalReport, SessionRecord
from hacore.sessions.store import SessionStore
from hacore.terminal import (
    TERMINAL_STATUSES,
    Verdict,
    mark_sent,
    on_final,
    on_openvidu_terminal,
    on_terminal_overdue,
    release_expired_hold,
)
from hacore.webhooks.events import OpenViduEvent, order_key
from hacore.webhooks.ingest import Ingest

if TYPE_CHECKING:
    from hacore.failover.engine import FailoverEngine

log = logging.getLogger("hacore.terminal")


class CustomerTerminal:
    """`engine` (built on first use) starts finalizers: when OpenVidu's `failed` is held and no
    backup is running to finalize, and when a final file's S3 copy is still owed."""

    def __init__(
        self,
        store: SessionStore,
        ingest: Ingest,
        engine: Callable[[], FailoverEngine] | None = None,
        hold_s: float = 900,
    ) -> None:
        self._store = store
        self._ingest = ingest
        self._engine = engine
        self._hold_s = hold_s

    def report_final(self, session_id: str, final: FinalReport) -> SessionRecord:
        def change(record: SessionRecord, now: float) -> SessionRecord:
            if final.epoch is not None and final.epoch < record.epoch:
                raise StaleEpoch(session_id, final.epoch, record.epoch)
            return on_final(record, final)

        record = self.send_pending(self._store.decide(session_id, change))
        if final.s3Pending and self._engine is not None:
            self._engine().launch_finalizer(
                session_id, "the final file's S3 copy did not fit the stop budget"
            )
        return record

    def _finalize_unless_a_backup_will(self, record: SessionRecord) -> None:
        if self._engine is None:
            return
        engine = self._engine()
        if record.launcherRef:
            backup = engine.launcher.describe(record.launcherRef)
            if backup is not None and backup.state == "running":
                return  # it was asked to stop gracefully: it finalizes and reports
        engine.launch_finalizer(record.sessionId, "OpenVidu said failed; no recorder is left to finalize")

    def verdict(self, event: OpenViduEvent | None, body: dict[str, Any] | None, webhook_id: str) -> Verdict:
        """Whether this webhook reaches the customer: OpenVidu's terminal events are judged."""
        status = event.recording_status if event else None
        if event is None or event.id is None or status not in TERMINAL_STATUSES:
            return "relay"

        def rule(record: SessionRecord, now: float) -> tuple[SessionRecord, Verdict]:
            return on_openvidu_terminal(record, status or "", body or {}, webhook_id, now + self._hold_s)

        try:
            record, verdict = self._store.decide_with(event.id, rule)
        except SessionNotFound:
            return "relay"  # not a recording this controller knows: OpenVidu's word stands
        self.send_pending(record)
        log.info("OpenVidu's %s for %s: %s", status, event.id, verdict)
        if verdict == "hold":
            self._finalize_unless_a_backup_will(record)
        return verdict or "relay"

    def on_deadline(self, session_id: str) -> Due | None:
        """The detector's call for a session whose lifecycle deadline passed (a hold, the outbox,
        a terminal OpenVidu never sent): what was overdue, after doing what it asks."""

        def rule(record: SessionRecord, now: float) -> tuple[SessionRecord, tuple[Due | None, bool]]:
            due = overdue(record, now)
            if due is Due.HOLD:
                return release_expired_hold(record, now), (due, False)
            if due is Due.TERMINAL:
                updated, finalize = on_terminal_overdue(record, now + self._hold_s)
                return updated, (due, finalize)
            return record, (due, False)

        record, decided = self._store.decide_with(session_id, rule)
        due, finalize = decided or (None, False)
        if due is Due.HOLD:
            log.warning("no final report for %s in time: releasing the held failed", session_id)
        if due is Due.TERMINAL:
            log.warning(
                "no terminal from OpenVidu for %s in time: telling the customer ourselves", session_id
            )
            if finalize:
                self._finalize_unless_a_backup_will(record)
        self.send_pending(record)
        return due

    def send_pending(self, record: SessionRecord) -> SessionRecord:
        """Queues our decided terminal, then marks it sent; nothing to do if it is sent already."""
        terminal = record.terminal
        if terminal is None or terminal.sent or terminal.body is None:
            return record
        self._ingest.accept(
            "POST",
            "application/json",
            json.dumps(terminal.body),
            False,
            "recordingStatusChanged",
            webhook_id=terminal.webhookId,
            effects=False,
            order_key=order_key(OpenViduEvent.model_validate(terminal.body)),
        )
        log.info("queued our %s for %s (%s)", terminal.status, record.sessionId, terminal.webhookId)
        return self._store.decide(record.sessionId, lambda current, now: mark_sent(current))
