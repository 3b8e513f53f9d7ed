"""The truth for the customer's app: exactly one terminal `recordingStatusChanged` per recording,
`ready` whenever a playable file exists. Pure functions over the session record (the store's
`decide` persists them; `webhooks/outcome.py` sends what they decide).

OpenVidu judges a recording by its own container alone: after a takeover that container is
dead, so OpenVidu concludes `failed` although the backup produced a complete file. So:

* OpenVidu's `ready`: relayed; it is the terminal.
* OpenVidu's `failed`, the final file already reported playable: replaced by our `ready`.
* OpenVidu's `failed` for a recording with chunks in S3 (a backup took over, or the recorder
  died before it could finalize): held back until a final report (the backup's, or a
  finalizer's): a playable file turns it into our `ready`, none releases it.
* any other `failed`: relayed; it is the terminal.
* a playable final report after a takeover, OpenVidu's terminal not seen yet: our `ready` now
  (OpenVidu can only say `failed`, and that will be dropped).
* once a terminal is decided, any other terminal event for the recording is dropped.
* a held `failed` that no final report answers by its deadline (APP_FINALIZE_TIMEOUT) is
  released: the customer is told what OpenVidu said, late rather than never. Until then the
  session sits in the claims index (`claimExpiresAt` is the deadline), so the detector's
  sweep finds it without scanning.
* a recording that ended with no terminal from OpenVidu by APP_TERMINAL_TIMEOUT (OpenVidu threw
  before sending one) gets ours: `ready` if a playable file was reported; if chunks are stored,
  a `failed` of ours is held while a finalizer makes the file (as OpenVidu's would be); else
  our `failed` (`on_terminal_overdue`).

A decided terminal of ours is written with `sent` false in the same write that decides it: the
outbox. It is queued, then marked sent; what a crash leaves unsent the sweep queues
(`hacore.lifecycle`), under the same webhook id, so the FIFO queue drops a repeat.

Every decision is keyed by webhook id, so applying the same webhook twice decides the same.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from hacore.models import HANDOVER_REASONS, FinalReport, SessionRecord, Status, Terminal

Verdict = Literal["relay", "hold", "drop", "replace"]
TERMINAL_STATUSES = ("ready", "failed")
# OpenVidu's fields of the recording, carried from its own events or its RECORDING_JSON
OPENVIDU_FIELDS = (
    "sessionId",
    "uniqueSessionId",
    "startTime",
    "reason",
    "id",
    "name",
    "outputMode",
    "resolution",
    "frameRate",
    "recordingLayout",
    "customLayout",
)


def ours_id(session_id: str, status: str) -> str:
    """The webhook id of a terminal we send: the same on every retry, never one of OpenVidu's."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"ovha:{session_id}:{status}").hex


def openvidu_fields(record: SessionRecord) -> dict[str, Any]:
    """OpenVidu's fields of the recording, from its RECORDING_JSON (`createdAt` is its startTime)."""
    recording = record.recordingJson if isinstance(record.recordingJson, dict) else {}
    fields = {k: recording[k] for k in OPENVIDU_FIELDS if k in recording}
    if "createdAt" in recording:
        fields["startTime"] = recording["createdAt"]
    return fields


def synthesized_ready(
    record: SessionRecord, final: FinalReport, source: dict[str, Any] | None
) -> dict[str, Any]:
    """OpenVidu's `ready`, as OpenVidu would have sent it had its container survived, with the real
    file's size and duration, plus where the file is and how it was made (`ha`)."""
    base = openvidu_fields(record) | {k: v for k, v in (source or {}).items() if k in OPENVIDU_FIELDS}
    return {
        "event": "recordingStatusChanged",
        "timestamp": int(time.time() * 1000),
        **base,
        "id": record.sessionId,
        "hasAudio": final.hasAudio,
        "hasVideo": final.hasVideo,
        "size": final.size,
        "duration": final.duration,
        "status": "ready",
        "ha": {
            # a takeover replaced a failed recorder (a planned handover is not a recovery)
            "recovered": any(
                f.reason not in HANDOVER_REASONS for f in record.failovers if f.outcome == "running"
            )
            or (record.epoch > 1 and not record.failovers),
            # planned, make-before-break: each new recorder, why, and when it took over (no media lost)
            "handovers": [
                {"epoch": f.epoch, "reason": f.reason, "at": f.at, "ownerFrom": f.runningAt}
                for f in record.failovers
                if f.reason in HANDOVER_REASONS and f.outcome == "running"
            ],
            "bucket": final.bucket,
            "key": final.key,
            "local": final.local,
            "s3Pending": final.s3Pending,
            "epochs": final.epochs,
            "gaps": final.gaps,
            "missingChunks": final.missing,
            "excludedChunks": final.excluded,
            "finalizedBy": final.finalizedBy,
        },
    }


def synthesized_failed(record: SessionRecord) -> dict[str, Any]:
    """OpenVidu's `failed`, as it would have sent it: what we tell when it never did."""
    return {
        "event": "recordingStatusChanged",
        "timestamp": int(time.time() * 1000),
        **openvidu_fields(record),
        "id": record.sessionId,
        "status": "failed",
        "ha": {"recovered": False, "reason": "no terminal from OpenVidu in time, and no playable file"},
    }


def on_terminal_overdue(record: SessionRecord, hold_until: float) -> tuple[SessionRecord, bool]:
    """The recording ended and OpenVidu never said how: our truthful terminal. Returns the record
    and whether a finalizer must make the file (then a `failed` of ours is held until it reports)."""
    if record.terminal is not None or record.heldWebhook is not None:
        return record, False
    final = record.final
    if final is not None and final.playable:
        return _decide(record, ours(record, synthesized_ready(record, final, None))), False
    failed = synthesized_failed(record)
    if final is None and recoverable(record):
        held = {"id": ours_id(record.sessionId, "failed"), "body": failed}
        return record.model_copy(update={"heldWebhook": held, "claimExpiresAt": hold_until}), True
    return _decide(record, ours(record, failed)), False


def on_openvidu_terminal(
    record: SessionRecord, status: str, body: dict[str, Any], webhook_id: str, hold_until: float
) -> tuple[SessionRecord, Verdict]:
    """What OpenVidu's `ready` or `failed` (webhook `webhook_id`) becomes for the customer."""
    if record.terminal is not None:
        return record, "relay" if record.terminal.webhookId == webhook_id else "drop"
    if record.heldWebhook is not None:  # one is held already: this one is the same, or a repeat
        return record, "hold" if record.heldWebhook.get("id") == webhook_id else "drop"
    if status == "ready":
        return _decide(record, Terminal(status="ready", webhookId=webhook_id)), "relay"
    final = record.final
    if final is not None and final.playable:
        return _decide(record, ours(record, synthesized_ready(record, final, body))), "replace"
    if final is None and record.status is not Status.FAILED and recoverable(record):
        held = {"heldWebhook": {"id": webhook_id, "body": body}, "claimExpiresAt": hold_until}
        return record.model_copy(update=held), "hold"
    return _decide(record, Terminal(status="failed", webhookId=webhook_id)), "relay"


def recoverable(record: SessionRecord) -> bool:
    """A playable file can still be made: a backup recorded, or chunks are stored."""
    return record.epoch > 1 or record.lastChunkIndex is not None


def on_final(record: SessionRecord, final: FinalReport) -> SessionRecord:
    """A recorder's final report: the session ends, and the customer's terminal may follow from it.
    A finalizer's report (S3 only) keeps what the primary said of its local copy."""
    if final.local is None and record.final is not None and record.final.local:
        final = final.model_copy(update={"local": record.final.local})
    status = Status.COMPLETED if final.playable else record.status
    updated = record.model_copy(update={"final": final, "status": status})
    if record.terminal is not None:
        return updated
    held = record.heldWebhook
    if final.playable and (held is not None or record.epoch > 1):
        return _decide(
            updated, ours(record, synthesized_ready(record, final, held["body"] if held else None))
        )
    if held is not None and not final.playable:  # nothing playable after all: OpenVidu was right
        return _decide(updated, released(held))
    return updated


def release_expired_hold(record: SessionRecord, now: float) -> SessionRecord:
    """No final report came in time: OpenVidu's `failed` goes to the customer after all."""
    held = record.heldWebhook
    if (
        held is None
        or record.terminal is not None
        or record.claimExpiresAt is None
        or now < record.claimExpiresAt
    ):
        return record
    return _decide(record, released(held))


def mark_sent(record: SessionRecord) -> SessionRecord:
    """Our terminal was queued; unchanged when there is nothing to mark."""
    if record.terminal is None or record.terminal.body is None or record.terminal.sent:
        return record
    return record.model_copy(update={"terminal": record.terminal.model_copy(update={"sent": True})})


def ours(record: SessionRecord, body: dict[str, Any]) -> Terminal:
    """A terminal we send (`body` synthesized), decided and not yet queued: the outbox."""
    status = body["status"]
    return Terminal(status=status, webhookId=ours_id(record.sessionId, status), body=body, sent=False)


def released(held: dict[str, Any]) -> Terminal:
    """A held `failed` (OpenVidu's or ours) that goes to the customer after all, with its own id."""
    return Terminal(status="failed", webhookId=held["id"], body=held["body"], sent=False)


def _decide(record: SessionRecord, terminal: Terminal) -> SessionRecord:
    update: dict[str, Any] = {"terminal": terminal, "heldWebhook": None}
    if record.heldWebhook is not None and record.status is not Status.FAILING_OVER:
        update["claimExpiresAt"] = None  # the hold's deadline, not a takeover's claim
    return record.model_copy(update=update)
