"""What S3 holds of a session: its chunks (`$VIDEO_ID/chunks/NNNN-eE.mp4`, or the original's
`NNNN.mp4`) and the fence markers takeovers leave (`$VIDEO_ID/fence/eE`).

The fence marker is how a recorder cut off from the controller (but not from S3) learns that
a newer epoch owns its session: it looks for the marker of the epoch above its own before
each upload. The chunks' upload times are the storm guard's evidence that a recorder it
cannot hear is still recording.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("hacore.chunks")

# The Lambda bundle's copy of the parts of `recorder/layout.py` the controller needs
# (tests/unit/test_s3_layout.py holds them to it): the fence is written here, read there.
CHUNK_NAME = re.compile(r"^(\d+)(?:-e(\d+))?\.[A-Za-z0-9]+$")


def chunk_prefix(session_id: str) -> str:
    return f"{session_id}/chunks/"


def parse_chunk_key(key: str) -> tuple[int, int | None] | None:
    match = CHUNK_NAME.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def fence_key(session_id: str, epoch: int) -> str:
    return f"{session_id}/fence/e{epoch}"


def chunk_key(session_id: str, index: int, epoch: int) -> str:
    return f"{chunk_prefix(session_id)}{index:04d}-e{epoch}.mp4"


def manifest_key(session_id: str) -> str:
    return f"{session_id}/manifest.json"


@dataclass
class StoredChunks:
    newest: int | None = None  # the highest chunk number any recorder stored
    last_stored_at: dict[int | None, float] = field(default_factory=dict)  # per epoch in the key
    newest_keys: dict[int | None, tuple[int, str]] = field(default_factory=dict)  # per epoch: (number, key)

    def stored_since(self, epoch: int, moment: float) -> bool:
        """Did the recorder of `epoch` store a chunk after `moment`? (Keys without an epoch count
        for every epoch: the original's recorders wrote them.)"""
        return max(self.last_stored_at.get(epoch, 0.0), self.last_stored_at.get(None, 0.0)) > moment

    def newest_key(self, epoch: int) -> str | None:
        """The highest-numbered chunk of `epoch` (the original's keys, without one, for epoch 0)."""
        candidates = [self.newest_keys.get(epoch), self.newest_keys.get(None) if epoch == 0 else None]
        found = max((c for c in candidates if c is not None), default=None)
        return found[1] if found else None


class ChunkIndex:
    def __init__(self, s3: Any, bucket: str | None) -> None:
        self._s3 = s3
        self._bucket = bucket

    def scan(self, session_id: str) -> StoredChunks:
        """One listing: the newest chunk number, when each epoch last stored a chunk, and each
        epoch's newest chunk."""
        stored = StoredChunks()
        if not self._bucket:
            return stored
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=chunk_prefix(session_id)):
            for item in page.get("Contents", []):
                parsed = parse_chunk_key(item["Key"])
                if parsed is None:
                    continue
                index, epoch = parsed
                stored.newest = index if stored.newest is None else max(stored.newest, index)
                at = item["LastModified"].timestamp()
                stored.last_stored_at[epoch] = max(stored.last_stored_at.get(epoch, 0.0), at)
                stored.newest_keys[epoch] = max(stored.newest_keys.get(epoch, (-1, "")), (index, item["Key"]))
        return stored

    def newest(self, session_id: str) -> int | None:
        """The highest chunk number stored for the session, or None (also with no bucket configured)."""
        return self.scan(session_id).newest

    def reaches(self, session_id: str, owner: int, successor: int, first: int) -> bool:
        """Does the owner's stored media reach the wall-clock start of the successor's first
        chunk (`first`, stored under `successor`)? A handover fences the owner only then: a
        fenced recorder uploads nothing more, so its chunk still on the way would be a gap.
        True when it cannot be told (no bucket, S3 refusing, chunks without a wall-clock start):
        the handover is never held up by what cannot be read, only by what is not there yet."""
        if not self._bucket:
            return True
        try:
            starts = self._span(chunk_key(session_id, first, successor))
            if starts is None:
                return True
            newest = self.scan(session_id).newest_key(owner)
            if newest is None:
                return True  # the owner stored nothing: waiting for it would not help
            span = self._span(newest)
        except Exception as error:  # S3 down must not stop a handover
            log.warning("could not read %s's chunks to time its handover: %s", session_id, error)
            return True
        # No tolerance: 29 ms short is a gap in the file too (CI's drain drill lost that race).
        return span is None or span[0] + span[1] >= starts[0]

    def _span(self, key: str) -> tuple[float, float] | None:
        """(wall-clock start, duration) from the chunk's metadata, as the recorder wrote them."""
        meta = self._s3.head_object(Bucket=self._bucket, Key=key).get("Metadata", {})
        try:
            return float(meta["wallclock-start"]), float(meta.get("duration") or 0.0)
        except (KeyError, ValueError):
            return None

    def fence(self, session_id: str, epoch: int) -> bool:
        """Leaves the marker that fences every epoch below `epoch`. False (logged) if S3 refused:
        the controller's 409 still fences a recorder that can reach it."""
        if not self._bucket:
            return False
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=fence_key(session_id, epoch), Body=b"", ContentType="text/plain"
            )
        except Exception as error:  # S3 down must not stop a takeover
            log.warning("could not write the fence marker of %s epoch %s: %s", session_id, epoch, error)
            return False
        return True
