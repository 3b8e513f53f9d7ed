"""What the recorder tells the controller about a finished recording: the manifest the finalizer
writes (to S3, beside the final file) and the controller's final report is made from. Plain
dataclasses, so the HTTP client needs nothing of the finalizer (nor media, nor boto3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChunkEntry:
    index: int
    key: str
    epoch: int | None
    wallclockStart: float | None
    duration: float | None
    included: bool = True
    problem: str | None = None
    playedSeconds: float | None = None  # less than `duration` where another recorder's chunk took over


@dataclass
class Gap:
    afterChunk: int
    beforeChunk: int
    fromEpoch: int | None
    toEpoch: int | None
    seconds: float | None
    missingChunks: list[int] = field(default_factory=list)


@dataclass
class Manifest:
    sessionId: str
    final: str | None  # the final file's S3 key; None while it is not stored there
    duration: float
    chunks: list[ChunkEntry]
    gaps: list[Gap]
    epochs: list[int]
    excluded: list[int]
    missing: list[int]
    finalizedAt: float
    finalizedBy: str
    bucket: str = ""
    size: int = 0
    hasAudio: bool = False
    hasVideo: bool = False
    local: str | None = None  # the final file in OpenVidu's folder (the primary's)
    # Spans of still or black picture each recorder's capture stack saw, beside the gaps between recorders
    stillSpans: list[dict[str, Any]] = field(default_factory=list)
    s3Pending: bool = False  # the S3 copy did not fit the stop budget: a finalizer stores it
    # The playing order: [chunk number, epoch] of each chunk in the final file
    timeline: list[list[int | None]] = field(default_factory=list)
    # Chunk time left out because another recorder's chunk held the same moment (a split brain)
    overlaps: list[dict[str, Any]] = field(default_factory=list)
    overlapSeconds: float = 0.0
    # Every log stored for this recording (VIDEO_ID/logs/eE/...): agent, ffmpeg, capture stack
    logs: list[str] = field(default_factory=list)

    @property
    def playable(self) -> bool:
        return self.hasVideo and (self.final is not None or self.local is not None)
