"""Where a recording's objects live in S3: the one key layout, read by the recorder, the
finalizer, the drill and the benches. (The controller's Lambda bundle holds the two keys it
needs in `functions/hacore/chunks.py`; `tests/unit/test_s3_layout.py` holds that copy to this.)

    <id>/chunks/NNNN-eE.mp4   a chunk, written once by the recorder of epoch E (the original's
                              recorders wrote NNNN.mp4, still read)
    <id>/fence/eE             a takeover's marker: every epoch below E is fenced
    <id>/health/eE.json       recorder E's capture stack (still and black spans)
    <id>/logs/eE/...          recorder E's logs
    <id>/<name>.mp4           the final file; <name>.jpg its thumbnail
    <id>/.recording.<id>      OpenVidu's entity file
    <id>/manifest.json        what the finalizer joined, cut and left out
"""

from __future__ import annotations

import re

CHUNK_NAME = re.compile(r"^(\d+)(?:-e(\d+))?\.[A-Za-z0-9]+$")


def chunk_prefix(video_id: str) -> str:
    return f"{video_id}/chunks/"


def chunk_key(video_id: str, index: int, epoch: int) -> str:
    return f"{chunk_prefix(video_id)}{index:04d}-e{epoch}.mp4"


def parse_chunk_key(key: str) -> tuple[int, int | None] | None:
    """(chunk number, epoch in the key or None for the original's keys), or None: not a chunk."""
    match = CHUNK_NAME.match(key.rsplit("/", 1)[-1])
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2)) if match.group(2) else None


def fence_key(video_id: str, epoch: int) -> str:
    """Written by the controller when it claims the session for `epoch`: every older epoch is fenced."""
    return f"{video_id}/fence/e{epoch}"


def health_prefix(video_id: str) -> str:
    return f"{video_id}/health/"


def health_key(video_id: str, epoch: int) -> str:
    return f"{health_prefix(video_id)}e{epoch}.json"


def logs_prefix(video_id: str) -> str:
    return f"{video_id}/logs/"


def log_key(video_id: str, epoch: int, relative: str) -> str:
    return f"{logs_prefix(video_id)}e{epoch}/{relative}"


def final_key(video_id: str, file_name: str) -> str:
    return f"{video_id}/{file_name}"


def thumbnail_key(video_id: str, name: str) -> str:
    return f"{video_id}/{name}.jpg"


def entity_key(video_id: str) -> str:
    return f"{video_id}/.recording.{video_id}"


def manifest_key(video_id: str) -> str:
    return f"{video_id}/manifest.json"
