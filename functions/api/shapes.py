"""The sessions API's request and reply shapes: what the HTTP contract reads and returns.

Request models forbid unknown fields so that a typo is a 400 naming it, not a field quietly
ignored; `SessionView` is the record as the contract shows it (camelCase, ISO-8601).
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from hacore.models import (
    NOT_BLANK,
    SESSION_ID_CHARS,
    SESSION_ID_PATTERN,
    STATUS_WORDS,
    WHITESPACE,
    Beat,
    FailoverEvent,
    FinalReport,
    Model,
    Registration,
    SessionRecord,
    Status,
    iso,
    parse_status,
)


class SessionView(Model):
    """A session as the HTTP contract shows it."""

    sessionId: str
    clientId: str
    clientHost: str | None = None
    status: Status
    active: bool
    createdAt: str
    lastHeartbeat: str
    recordingPath: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    lastChunk: str | None = None
    lastChunkChangedAt: str
    backupContainerId: str | None = None
    backupContainerName: str | None = None
    environment: dict[str, Any] = Field(default_factory=dict)
    uniqueSessionId: str | None = None
    originalSessionId: str | None = None
    recordingJson: Any = None
    epoch: int
    failovers: list[FailoverEvent] = Field(default_factory=list)
    handover: FailoverEvent | None = None  # a make-before-break handover under way
    redundant: bool = False  # recorded twice: a shadow recorder beside the owner
    shadow: FailoverEvent | None = None  # that shadow (promoted if the owner is lost)
    instanceId: str | None = None  # the media node's EC2 instance
    failoverAttempts: int = 0
    captureRestarts: int = 0
    captureHealth: dict[str, Any] | None = None
    final: FinalReport | None = None
    customerTerminal: str | None = None
    expiresAt: str

    @classmethod
    def of(cls, record: SessionRecord) -> SessionView:
        return cls(
            sessionId=record.sessionId,
            clientId=record.clientId,
            clientHost=record.clientHost,
            status=record.status,
            active=record.active,
            createdAt=iso(record.createdAt),
            lastHeartbeat=iso(record.lastHeartbeatAt),
            recordingPath=record.recordingPath,
            metadata=record.metadata,
            lastChunk=record.lastChunk,
            lastChunkChangedAt=iso(record.lastChunkChangedAt),
            backupContainerId=record.launcherRef,
            backupContainerName=record.backupContainerName,
            environment=record.environment,
            uniqueSessionId=record.uniqueSessionId,
            originalSessionId=record.originalSessionId,
            recordingJson=record.recordingJson,
            epoch=record.epoch,
            failovers=record.failovers,
            handover=record.handover,
            redundant=record.redundant,
            shadow=record.shadow,
            instanceId=record.instanceId,
            failoverAttempts=record.failoverAttempts,
            captureRestarts=record.captureRestarts,
            captureHealth=record.captureHealth,
            final=record.final,
            customerTerminal=record.terminal.status if record.terminal else None,
            expiresAt=iso(record.expiresAt),
        )


# --- requests -------------------------------------------------------------------------


class StrictRequest(Model):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


def _required(data: Any, fields: tuple[str, ...], kind: str, message: str) -> Any:
    """The original's one sentence when a required field is absent, null or blank, ahead of
    pydantic's per-field "Field required": existing clients read these words."""
    if isinstance(data, dict):
        values = [data.get(name) for name in fields]
        if any(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            raise PydanticCustomError(kind, message)
    return data


STATUS_CHOICES = sorted(STATUS_WORDS)


def valid_session_id(value: str) -> str:
    """A session id a key can hold (blanks around are stripped before): the one sentence naming it."""
    if not re.match(SESSION_ID_PATTERN, value):
        raise PydanticCustomError(
            "ha_session_id_format",
            "sessionId '{value}' may only hold letters, digits and _-~.:@+= (at most 128)",
            {"value": value},
        )
    return value


def any_case(words: list[str]) -> str:
    """A JSON Schema pattern for these words in any case, blanks around allowed: what
    `parse_status` accepts (ECMA-262 has no case-insensitive flag, so each letter is a class)."""
    spelled = ["".join(f"[{c.lower()}{c.upper()}]" for c in word) for word in words]
    return f"^[{WHITESPACE}]*({'|'.join(spelled)})[{WHITESPACE}]*$"


STATUS_WORD = any_case(STATUS_CHOICES)
PADDED_SESSION_ID = f"^[{WHITESPACE}]*{SESSION_ID_CHARS}[{WHITESPACE}]*$"  # blanks around: stripped


class RegisterRequest(StrictRequest, Registration):
    """POST /api/sessions, as the original recorder scripts send it."""

    sessionId: str = Field(max_length=128, json_schema_extra={"pattern": PADDED_SESSION_ID})
    clientId: str = Field(max_length=256, json_schema_extra={"pattern": NOT_BLANK})
    clientHost: str | None = Field(None, max_length=256)
    instanceId: str | None = Field(
        None,
        pattern=r"^i-[0-9a-f]{8,17}$",
        description="the media node's EC2 instance id (recorders read it from IMDSv2): Spot's and "
        "Auto Scaling's events name the node by it",
    )
    uniqueSessionId: str | None = Field(None, max_length=256)
    originalSessionId: str | None = Field(None, max_length=256)
    redundant: bool | None = Field(
        None,
        description="record it twice from the start (a shadow recorder, promoted with nothing lost if "
        "the recorder dies); unset: APP_REDUNDANT_RECORDING",
    )
    status: str | None = Field(
        None,
        description="case-insensitive",
        json_schema_extra={"pattern": STATUS_WORD, "examples": ["started", "RECORDING"]},
    )
    recordingJson: Any = None
    environment: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _ids_present(cls, data: Any) -> Any:
        return _required(
            data, ("sessionId", "clientId"), "ha_ids_required", "sessionId and clientId are required"
        )

    @model_validator(mode="after")
    def _ids_valid(self) -> RegisterRequest:
        valid_session_id(self.sessionId)
        if self.status is not None:
            parse_status(self.status)
        return self


class HeartbeatRequest(StrictRequest, Beat):
    """PUT /api/sessions/{id}/heartbeat: `{}` or `{"lastChunk": "0005.mp4"}`, plus our `epoch`."""


class StatusRequest(StrictRequest):
    status: str = Field(
        description=f"case-insensitive: {', '.join(STATUS_CHOICES)}",
        json_schema_extra={"pattern": STATUS_WORD, "examples": ["recording", "INACTIVE"]},
    )

    @model_validator(mode="before")
    @classmethod
    def _status_present(cls, data: Any) -> Any:
        return _required(data, ("status",), "ha_status_required", "status field is required")

    @model_validator(mode="after")
    def _status_known(self) -> StatusRequest:
        parse_status(self.status)
        return self


class RecordingPathRequest(StrictRequest):
    recordingPath: str = Field(max_length=1024, json_schema_extra={"pattern": NOT_BLANK})

    @model_validator(mode="before")
    @classmethod
    def _path_present(cls, data: Any) -> Any:
        return _required(data, ("recordingPath",), "ha_path_required", "recordingPath field is required")


# --- replies --------------------------------------------------------------------------


class Stamped(Model):
    timestamp: str


class HeartbeatReply(Stamped):
    message: str = "Heartbeat updated"
    sessionId: str
    lastChunk: str | None = None
    epoch: int
    status: Status


class MessageReply(Stamped):
    message: str
    sessionId: str


class StatusReply(MessageReply):
    status: Status


class RecordingPathReply(MessageReply):
    recordingPath: str


class FinalReply(StatusReply):
    customerTerminal: str | None = None


class SessionList(Stamped):
    sessions: list[SessionView]
    count: int
    type: str


class AllSessions(Stamped):
    sessions: list[SessionView]
    totalCount: int
    activeCount: int
    inactiveCount: int
    type: str = "all"


class ActiveReply(Stamped):
    sessionId: str
    active: bool


class HealthReply(Stamped):
    status: str
    activeSessions: int | None = None
    totalSessions: int | None = None
    inactiveSessions: int | None = None
    service: str = "recorder-ha-controller"
    s3CleanupInfo: str | None = None  # one line: whether chunks are deleted after the final file
    error: str | None = None


class CleanupReply(Stamped):
    message: str = "Manual cleanup completed"
    removedSessions: int
