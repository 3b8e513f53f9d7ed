"""Sends what `hacore.terminal` decides: the customer's one terminal event per recording.

The decision is stored first (one conditional write). Sending ours is claimed with a second
one (`sent` false -> true): of two callers only the claimer queues it, so it is queued once;
if queueing fails the claim is undone and the caller fails (the recorder's report, or the
relay's message, is retried), so it is never lost either.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from hacore.errors import StaleEpoch
from hacore.models import FinalReport, SessionRecord
from hacore.store import SessionStore
from hacore.terminal import TERMINAL_STATUSES, Verdict, mark_sent, on_final, on_openvidu_terminal
from hacore.webhooks.events import OpenViduEvent
from hacore.webhooks.ingest import Ingest

log = logging.getLogger("hacore.terminal")


class CustomerTerminal:
    def __init__(self, store: SessionStore, ingest: Ingest) -> None:
        self._store = store
        self._ingest = ingest

    def report_final(self, session_id: str, final: FinalReport) -> SessionRecord:
        def change(record: SessionRecord, now: float) -> SessionRecord:
            if final.epoch is not None and final.epoch < record.epoch:
                raise StaleEpoch(session_id, final.epoch, record.epoch)
            return on_final(record, final)

        return self.send_pending(self._store.mutate(session_id, change))

    def verdict(self, event: OpenViduEvent | None, body: dict[str, Any] | None, webhook_id: str) -> Verdict:
        """Whether this webhook reaches the customer: OpenVidu's terminal events are judged."""
        status = event.recording_status if event else None
        if event is None or event.id is None or status not in TERMINAL_STATUSES:
            return "relay"
        if self._store.find(event.id) is None:
            return "relay"  # not a recording this controller knows: OpenVidu's word stands
        decided: list[Verdict] = []

        def change(record: SessionRecord, now: float) -> SessionRecord:
            updated, verdict = on_openvidu_terminal(record, status or "", body or {}, webhook_id)
            decided[:] = [verdict]
            return updated

        record = self._store.mutate(event.id, change)
        self.send_pending(record)
        log.info("OpenVidu's %s for %s: %s", status, event.id, decided[0])
        return decided[0]

    def send_pending(self, record: SessionRecord) -> SessionRecord:
        terminal = record.terminal
        if terminal is None or terminal.sent or terminal.body is None:
            return record
        won: list[bool] = []

        def claim(current: SessionRecord, now: float) -> SessionRecord:
            updated = mark_sent(current)
            won[:] = [updated is not current]
            return updated

        claimed = self._store.mutate(record.sessionId, claim)
        if not won[0]:
            return claimed  # another caller claimed it
        try:
            self._ingest.accept(
                "POST",
                "application/json",
                json.dumps(terminal.body),
                False,
                "recordingStatusChanged",
                webhook_id=terminal.webhookId,
                effects=False,
            )
        except Exception:
            self._store.mutate(record.sessionId, lambda current, now: mark_sent(current, False))
            raise
        log.info("queued our %s for %s (%s)", terminal.status, record.sessionId, terminal.webhookId)
        return claimed
