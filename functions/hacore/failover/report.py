"""What the failover engine tells its callers: one takeover, and one sweep."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hacore.errors import DomainError


class NoBackup(DomainError):
    status_code = 404


@dataclass
class Takeover:
    sessionId: str
    reason: str
    epoch: int
    startChunk: str
    outcome: str
    launcherRef: str | None = None
    detail: str | None = None
    standby: bool = False


@dataclass
class SweepReport:
    candidates: int = 0
    stale: int = 0
    takeovers: list[Takeover] = field(default_factory=list)
    lostRaces: int = 0
    failed: list[str] = field(default_factory=list)
    standbysLaunched: int = 0
    seconds: float = 0.0
    storm: bool = False  # the guard doubted its ears this sweep
    quiet: int = 0  # sessions silent long enough to count towards a storm
    held: dict[str, str] = field(default_factory=dict)  # session id -> why its takeover waits
    unheard: list[str] = field(default_factory=list)  # silent to us, alive by S3: not taken over
    drains: list[dict[str, Any]] = field(default_factory=list)  # each node being drained: its step
