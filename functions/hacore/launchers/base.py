"""What every launcher takes and gives, and the environment a backup recorder starts with."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from hacore.models import SessionRecord
from hacore.settings import Settings

# Registered environment keys that describe the old container, not the recording.
NOT_INHERITED = {"hostname", "containerIp", "timestamp", "chunkStart", "isRecoveryContainer"}
# Credentials never travel in a launch request: backups get them by reference (ECS task
# definition secrets) or from the launcher's own configuration.
SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|ACCESS_KEY|CREDENTIAL", re.I)


class LaunchError(RuntimeError):
    """The launcher refused or failed to start a backup."""


@dataclass(frozen=True)
class BackupSpec:
    """A recorder the controller starts: a backup (`run`), a finalizer (`finalize`), which joins
    what S3 holds into the final file when no recorder could, or a warm standby (`standby`), which
    waits for a takeover to hand it a session. The same image and launcher for all three."""

    session_id: str
    epoch: int
    start_chunk: str
    environment: dict[str, str]
    action: str = "run"

    @property
    def token(self) -> str:
        """Idempotency token: the same session and epoch never start two backups (or finalizers)."""
        suffix = "" if self.action == "run" else f"#{self.action}"
        return hashlib.sha256(f"{self.session_id}#{self.epoch}{suffix}".encode()).hexdigest()[:32]

    @property
    def name(self) -> str:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", self.session_id)[:60]
        role = {"run": "backup-recorder", "standby": "standby-recorder"}.get(self.action, "finalizer")
        return f"{role}-{safe}-e{self.epoch}"


@dataclass
class BackupInfo:
    ref: str
    session_id: str | None
    epoch: int | None
    start_chunk: str | None
    state: str
    launcher: str
    name: str | None = None
    started_at: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class Launcher(Protocol):
    name: str

    def launch(self, spec: BackupSpec) -> str:
        """Starts the backup (idempotent on spec.token); returns its reference."""
        ...

    def stop(self, ref: str, force: bool = False) -> bool:
        """Gracefully (the recorder finishes its chunk and finalizes) or at once. False if not running."""
        ...

    def describe(self, ref: str) -> BackupInfo | None: ...

    def list(self) -> list[BackupInfo]:
        """The backup recorders that are running."""
        ...

    def health(self) -> dict[str, Any]: ...


def env_name(key: str) -> str:
    """`videoId` -> `VIDEO_ID`: the registered environment back to the recorder's variable names."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).upper()


def backup_environment(
    record: SessionRecord, spec_epoch: int, start_chunk: str, settings: Settings
) -> dict[str, str]:
    """The session's recorder environment plus what makes it a backup, credentials excluded."""
    environment: dict[str, str] = {}
    for key, value in record.environment.items():
        if key in NOT_INHERITED or value is None or SECRET_WORDS.search(key):
            continue
        environment[env_name(key)] = value if isinstance(value, str) else json.dumps(value)
    environment.setdefault("VIDEO_ID", record.sessionId)
    if record.recordingJson is not None and "RECORDING_JSON" not in environment:
        raw = record.recordingJson
        environment["RECORDING_JSON"] = (
            raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
        )
    environment |= {
        "START_CHUNK": start_chunk,
        "IS_RECOVERY_CONTAINER": "true",
        "EPOCH": str(spec_epoch),
        "HEARTBEAT_INTERVAL": str(settings.heartbeat_interval_s),
        "CHUNK_TIME_SIZE": environment.get("CHUNK_TIME_SIZE", str(settings.chunk_time_size_s)),
    }
    if settings.controller_url:
        environment["HA_CONTROLLER_URL"] = settings.controller_url
    if settings.s3_bucket:
        environment.setdefault("HA_AWS_S3_BUCKET", settings.s3_bucket)
    return environment


def stopped_event(
    ref: str, session_id: str | None, epoch: int | str | None, exit_code: int | None, on_purpose: bool
) -> dict[str, Any]:
    """The EventBridge event ECS sends when a task stops ("ECS Task State Change", STOPPED): the one
    shape every launcher reports a stopped recorder in (a local process's exit, the engine's `die`),
    so one rule (`failover.task_events`) reads them all."""
    environment = [
        {"name": "VIDEO_ID", "value": session_id or ""},
        {"name": "EPOCH", "value": str(epoch or "")},
    ]
    return {
        "version": "0",
        "source": "aws.ecs",
        "detail-type": "ECS Task State Change",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "detail": {
            "taskArn": ref,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "stopCode": "UserInitiated" if on_purpose else "EssentialContainerExited",
            "stoppedReason": "stopped by the HA controller" if on_purpose else "process exited",
            "containers": [{"name": "recorder", "exitCode": exit_code, "lastStatus": "STOPPED"}],
            "overrides": {"containerOverrides": [{"name": "recorder", "environment": environment}]},
        },
    }
