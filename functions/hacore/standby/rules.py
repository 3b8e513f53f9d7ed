"""What registering, polling, an assignment, an acceptance and a retirement do to a standby.

Pure functions of the record and the time; `store.py` persists them with one conditional
write each. The rule they keep: a session is handed to one standby exactly once. A standby
is assigned only while IDLE and lately heard from; it records only once its acceptance, a
conditional ASSIGNED -> ACCEPTED for that session and epoch, has landed; a takeover that
gives up waiting retires the standby (ASSIGNED -> RETIRED), so a late acceptance fails and
the cold launch that follows is the only recorder of that epoch.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from hacore.errors import DomainError

SEEN_EVERY_S = 5.0  # a poll rewrites lastSeenAt at most this often: a poll is a read, not a write
RETENTION_S = 86400  # TTL of a standby's item after it was last seen


class StandbyStatus(StrEnum):
    IDLE = "IDLE"
    ASSIGNED = "ASSIGNED"
    ACCEPTED = "ACCEPTED"  # it is a recorder now, of `assignment.sessionId`
    RETIRED = "RETIRED"  # it must exit: it answered too late, or never


class StandbyConflict(DomainError):
    status_code = 409


class StandbyGone(DomainError):
    """The standby is retired or unknown: it exits, and the pool is refilled without it."""

    status_code = 410


class Assignment(BaseModel):
    """The session a standby takes over: what a cold backup would get in its environment."""

    model_config = ConfigDict(extra="forbid")

    sessionId: str
    epoch: int
    startChunk: str
    environment: dict[str, str]
    assignedAt: float


class StandbyRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    standbyId: str = Field(min_length=1, max_length=128)
    status: StandbyStatus = StandbyStatus.IDLE
    host: str | None = None
    launcherRef: str | None = None  # what the launcher calls it (ECS task ARN, process ref)
    registeredAt: float
    lastSeenAt: float
    acceptedAt: float | None = None
    assignment: Assignment | None = None
    version: int = 0
    expiresAt: int = 0

    def fresh(self, now: float, silent_after: float) -> bool:
        return now - self.lastSeenAt <= silent_after

    def available(self, now: float, silent_after: float) -> bool:
        """In the pool: idle and heard from lately."""
        return self.status is StandbyStatus.IDLE and self.fresh(now, silent_after)


def register(
    current: StandbyRecord | None, standby_id: str, host: str | None, launcher_ref: str | None, now: float
) -> StandbyRecord:
    """A standby says it is warm. Saying it again while idle is harmless (a retried request)."""
    if current is not None and current.status is not StandbyStatus.IDLE:
        raise StandbyConflict(f"Standby {standby_id} is {current.status.value}: it cannot register again")
    base = current or StandbyRecord(standbyId=standby_id, registeredAt=now, lastSeenAt=now)
    return base.model_copy(
        update={"host": host, "launcherRef": launcher_ref or base.launcherRef, "lastSeenAt": now}
    )


def seen(record: StandbyRecord, now: float) -> StandbyRecord:
    """A poll. The same record back (nothing written) unless lastSeenAt is getting old."""
    if record.status is StandbyStatus.RETIRED:
        raise StandbyGone(f"Standby {record.standbyId} is retired: exit")
    if now - record.lastSeenAt < SEEN_EVERY_S:
        return record
    return record.model_copy(update={"lastSeenAt": now})


def assign(record: StandbyRecord, assignment: Assignment, now: float, silent_after: float) -> StandbyRecord:
    if not record.available(now, silent_after):
        raise StandbyConflict(f"Standby {record.standbyId} is not available ({record.status.value})")
    return record.model_copy(update={"status": StandbyStatus.ASSIGNED, "assignment": assignment})


def accept(record: StandbyRecord, session_id: str, epoch: int, now: float) -> StandbyRecord:
    """Idempotent: an acceptance repeated (its reply was lost) finds it accepted and says so."""
    given = record.assignment
    same = given is not None and (given.sessionId, given.epoch) == (session_id, epoch)
    if record.status is StandbyStatus.ACCEPTED and same:
        return record
    if (
        record.status is not StandbyStatus.ASSIGNED
        or given is None
        or (given.sessionId, given.epoch) != (session_id, epoch)
    ):
        raise StandbyConflict(
            f"Standby {record.standbyId} holds no assignment of {session_id} at epoch {epoch} "
            f"({record.status.value}): do not record"
        )
    return record.model_copy(update={"status": StandbyStatus.ACCEPTED, "acceptedAt": now, "lastSeenAt": now})


def retire(record: StandbyRecord, epoch: int | None = None) -> StandbyRecord:
    """Given up on. An acceptance that landed first stands: the record comes back unchanged."""
    if record.status is StandbyStatus.ACCEPTED:
        return record
    if epoch is not None and (record.assignment is None or record.assignment.epoch != epoch):
        return record
    return record.model_copy(update={"status": StandbyStatus.RETIRED})
