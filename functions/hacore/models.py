"""The session record, the domain's core: what DynamoDB holds (times as epoch seconds, so
conditions can compare them), its statuses, and what a recorder registers and heartbeats.
The API's request and reply shapes are beside the API (`api/shapes.py`)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr
from pydantic_core import PydanticCustomError

SESSION_ID_CHARS = r"[A-Za-z0-9_\-~.:@+=]{1,128}"
SESSION_ID_PATTERN = f"^{SESSION_ID_CHARS}$"
CHUNK_NAME = re.compile(r"^(\d{1,6})\.([A-Za-z0-9]{1,5})$")


class Status(StrEnum):
    STARTING = "STARTING"
    RECORDING = "RECORDING"
    PAUSED = "PAUSED"
    STOPPING = "STOPPING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    INACTIVE = "INACTIVE"
    FAILING_OVER = "FAILING_OVER"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def watched(self) -> bool:
        """Whether the detector watches this session's heartbeats and chunks."""
        return self in WATCHED_STATUSES


# STOPPING is not active: the contract's `stopped` marks a session inactive, and a session
# being finalized keeps the ended sessions' retention, not the live sessions' short TTL.
ACTIVE_STATUSES = frozenset({Status.STARTING, Status.RECORDING, Status.PAUSED, Status.FAILING_OVER})
WATCHED_STATUSES = frozenset({Status.STARTING, Status.RECORDING})

# The recorder scripts and operators send lower-case words; these are the ones the original accepted.
STATUS_WORDS = {
    "started": Status.STARTING,
    "starting": Status.STARTING,
    "recording": Status.RECORDING,
    "paused": Status.PAUSED,
    "stopped": Status.STOPPING,
    "stopping": Status.STOPPING,
    "completed": Status.COMPLETED,
    "failed": Status.FAILED,
    "inactive": Status.INACTIVE,
}


def parse_status(word: str) -> Status:
    status = STATUS_WORDS.get(word.strip().lower())
    if status is None:
        raise PydanticCustomError(
            "ha_status_word",
            "status '{word}' is not one of: {allowed}",
            {"word": word, "allowed": ", ".join(sorted(STATUS_WORDS))},
        )
    return status


def chunk_index(name: str) -> int:
    """`0005.mp4` -> 5; the number is what orders chunks across recorders."""
    match = CHUNK_NAME.match(name)
    if not match:
        raise PydanticCustomError(
            "ha_chunk_name", "lastChunk '{name}' is not a chunk name like 0005.mp4", {"name": name}
        )
    return int(match.group(1))


def iso(epoch_seconds: float | None) -> str | None:
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(float(epoch_seconds), tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _chunk_name(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        chunk_index(value)
    return value


ChunkName = Annotated[str | None, BeforeValidator(_chunk_name)]


def _json_number(value: Any) -> Any:
    if isinstance(value, bool | str):
        raise PydanticCustomError("number_type", "Input should be a JSON number")
    return value


def _json_bool(value: Any) -> Any:
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be true or false")
    return value


# What the document promises, and no more: pydantic's lax mode would also take `true` or "5" for a
# number and "yes" or 1 for a boolean. (Not strict mode: JSON's 5.0 is an integer, and DynamoDB
# hands numbers back as Decimal.)
Integer = Annotated[int, BeforeValidator(_json_number)]
Number = Annotated[float, BeforeValidator(_json_number)]
Boolean = Annotated[bool, BeforeValidator(_json_bool)]
# The bound inside the type, so that an optional field's document keeps it (`minimum`)
EpochNumber = Annotated[int, Field(ge=1), BeforeValidator(_json_number)]
Count = Annotated[int, Field(ge=0), BeforeValidator(_json_number)]

# The characters str.strip() removes, spelled out: JSON Schema's `\s` is not Python's
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITESPACE}]"  # the document's pattern for a text that must not be blank


class Model(BaseModel):
    """Base of every model here: the schema is built on first use, so a cold start only pays
    for the models its route touches (the heartbeat route needs four of them)."""

    model_config = ConfigDict(defer_build=True)


# The reasons of a planned, make-before-break handover (`hacore.failover.handover`): no media lost
HANDOVER_REASONS = frozenset({"handover", "drain", "rotation"})


class FailoverEvent(Model):
    """One takeover: when it was claimed and why, where the backup starts, how it went.

    outcome: claimed -> launched -> running (the backup heartbeated), or launch-failed,
    start-timeout (the backup never heartbeated), gave-up (the attempts ran out), manual.
    """

    epoch: int
    at: float
    reason: str
    startChunk: str
    launcherRef: str | None = None
    outcome: str = "claimed"
    launchedAt: float | None = None
    detail: str | None = None
    standbyId: str | None = None  # the warm standby that took it over (None: a cold launch)
    runningAt: float | None = None  # the new recorder's first heartbeat: `at` to this is the launch
    heardAt: float | None = None  # a shadow's last heartbeat (alive to promote); a handover's first
    # durable chunk, heard while the owner's media of that moment was still on its way to S3


class FinalReport(Model):
    """PUT /api/sessions/{id}/final: what a recorder's finalize produced, and where it is."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    epoch: EpochNumber | None = Field(None, description="the reporting recorder's epoch; older: 409")
    bucket: str | None = Field(None, max_length=255)
    key: str | None = Field(None, max_length=1024, description="the final file's S3 key; null: not in S3")
    local: str | None = Field(None, max_length=1024, description="the final file in OpenVidu's folder")
    s3Pending: Boolean = Field(False, description="the S3 copy is still owed (a finalizer stores it)")
    size: Integer = Field(0, ge=0)
    duration: Number = Field(0, ge=0)
    hasAudio: Boolean = False
    hasVideo: Boolean = False
    epochs: list[Integer] = Field(default_factory=list)
    gaps: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    chunks: Integer = Field(0, ge=0)
    excluded: list[Integer] = Field(default_factory=list)
    missing: list[Integer] = Field(default_factory=list)
    finalizedBy: str | None = Field(None, max_length=256)

    @property
    def playable(self) -> bool:
        return self.hasVideo and bool(self.key or self.local)


class Terminal(Model):
    """The one terminal `recordingStatusChanged` the customer's app gets for a recording."""

    status: str  # ready | failed
    webhookId: str  # the webhook relayed as the terminal (OpenVidu's, or ours)
    body: dict[str, Any] | None = None  # ours to send (a synthesized ready, a released failed)
    sent: bool = True  # False while ours is decided but not yet queued (the outbox)
    dueAt: float | None = None  # unsent: when the detector's sweep queues it, if the decider did not


class SessionRecord(Model):
    """One recording, as stored: key `sessionId` (OpenVidu's recording id, the recorder's VIDEO_ID)."""

    model_config = ConfigDict(extra="ignore", defer_build=True)

    sessionId: str
    clientId: str
    clientHost: str | None = None
    instanceId: str | None = None  # the media node's EC2 instance (IMDSv2): what its events name
    uniqueSessionId: str | None = None
    originalSessionId: str | None = None
    status: Status = Status.STARTING
    createdAt: float
    updatedAt: float
    lastHeartbeatAt: float
    lastChunk: str | None = None
    lastChunkIndex: int | None = None
    lastChunkChangedAt: float
    recordingPath: str | None = None
    recordingJson: Any = None
    environment: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    epoch: int = 1
    launcherRef: str | None = None
    backupContainerName: str | None = None
    claimedAt: float | None = None
    claimExpiresAt: float | None = None
    failoverAttempts: int = 0
    captureRestarts: int = 0
    captureHealth: dict[str, Any] | None = None  # the capture stack, as the recorder last reported it
    failovers: list[FailoverEvent] = Field(default_factory=list)
    # A make-before-break handover in progress: its recorder (the event's epoch) records beside the
    # owner until its first chunk is durable, then owns the session (`sessions.rules`).
    handover: FailoverEvent | None = None
    rotateAt: float | None = None  # APP_MAX_RECORDER_AGE: when the owner is handed over (lifecycle)
    # Redundant recording: a second recorder (the shadow, the event's epoch) records the same session
    # from the start; the owner's death promotes it, nothing lost (`hacore.failover.shadow`).
    redundant: bool = False
    shadow: FailoverEvent | None = None
    shadowDueAt: float | None = None  # when the sweep starts a shadow, or gives up a silent one
    final: FinalReport | None = None
    heldWebhook: dict[str, Any] | None = None  # OpenVidu's `failed`, held while a backup finalizes
    terminal: Terminal | None = None
    terminalDueAt: float | None = None  # ended without a terminal: when we give our own (lifecycle)
    expiresAt: int
    version: int = 0
    # Not stored: how many capture restarts the heartbeat that made this copy added (a metric's value)
    _restarts_added: int = PrivateAttr(0)
    # Not stored: this copy is the write that completed a handover (its caller fences the old epoch)
    _handed_over: bool = PrivateAttr(False)

    @property
    def restarts_added(self) -> int:
        return self._restarts_added

    @property
    def handed_over(self) -> bool:
        return self._handed_over

    @property
    def active(self) -> bool:
        return self.status.active

    def expired(self, now: float) -> bool:
        """DynamoDB deletes expired items lazily; every read treats them as gone already."""
        return self.expiresAt <= now


class Registration(Model):
    """What a recorder registers: the session's ids and where it runs. The API's `RegisterRequest`
    is this, strictly parsed (the original's required-ids sentence, the id's characters)."""

    sessionId: str
    clientId: str
    clientHost: str | None = None
    instanceId: str | None = None
    uniqueSessionId: str | None = None
    originalSessionId: str | None = None
    status: str | None = None
    redundant: bool | None = None  # a shadow recorder from the start (None: APP_REDUNDANT_RECORDING)
    recordingJson: Any = None
    environment: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None

    @property
    def initial_status(self) -> Status:
        return parse_status(self.status) if self.status else Status.STARTING


class Beat(Model):
    """What a recorder's heartbeat says: its newest stored chunk, its epoch, its capture's health.
    The API's `HeartbeatRequest` is this, strictly parsed."""

    lastChunk: ChunkName = Field(
        None,
        description="newest chunk durably stored, e.g. 0005.mp4 (blank: none yet)",
        json_schema_extra={"pattern": f"{CHUNK_NAME.pattern}|^[{WHITESPACE}]*$"},
    )
    epoch: EpochNumber | None = Field(
        None, description="the recorder's generation; older than the session's: 409"
    )
    captureRestarts: Count | None = Field(
        None, description="restarts inside the recorder: ffmpeg, X, PulseAudio, browser, page reloads"
    )
    captureHealth: dict[str, Any] | None = Field(
        None, description="the capture stack: restarts per piece, seconds of still or black picture"
    )
