"""Salvage, the watcher's second job: the chunks a dead recorder never got to S3.

An exited container's filesystem outlives it until it is removed, and the engine's archive API
reads it. The rule: every chunk of the dead recorder that is not in S3 under its epoch goes
there now, under that epoch, with the wall-clock start the recorder would have given it: a
closed one whole, the one it was writing cut back to its last whole fragment
(`media.keep_whole_fragments`). Keys are write-once, so a chunk the recorder stored meanwhile
stays as it was. Salvage only fills the timeline: finalize places every chunk by its wall clock,
and where the backup holds the same moment one copy is kept. What it saves is the media between
the dead recorder's last upload and its death: up to a chunk and an upload more, otherwise lost.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recorder.capture import CHUNK_FILE, Chunk
from recorder.config import AgentConfig
from recorder.layout import parse_chunk_key
from recorder.media import keep_whole_fragments
from recorder.storage import AlreadyStored, ChunkStorage

log = logging.getLogger("recorder.salvage")
MAX_RUNS = 1000  # ffmpeg runs of one recorder looked for (restarts are rare; this only bounds the loop)


@dataclass(frozen=True)
class Run:
    """One ffmpeg run as its files tell it: `run-N.start` and the closed chunks of `run-N.csv`."""

    started_at: float
    first_index: int
    closed: list[tuple[int, float, float]] = field(default_factory=list)  # index, start, end (run's s)


@dataclass(frozen=True)
class Wanted:
    """A chunk to salvage: its number, its wall-clock start, its length (None: the cut one's, probed)."""

    index: int
    start: float
    duration: float | None


def parse_run(start_marker: str, segment_list: str) -> Run:
    marker = json.loads(start_marker)
    closed = []
    for line in segment_list.splitlines():
        parts = line.split(",")
        match = CHUNK_FILE.match(parts[0])
        if len(parts) >= 3 and match is not None:
            closed.append((int(match.group(1)), float(parts[1]), float(parts[2])))
    return Run(float(marker["startedAt"]), int(marker["firstIndex"]), closed)


def plan(runs: list[Run], stored: set[int]) -> list[Wanted]:
    """What to salvage: every closed chunk not stored, then the one the last run was writing."""
    wanted = [
        Wanted(index, run.started_at + start, end - start)
        for run in runs
        for index, start, end in run.closed
        if index not in stored
    ]
    if runs:
        last = runs[-1]
        if last.closed:
            index, _, end = max(last.closed)
            wanted.append(Wanted(index + 1, last.started_at + end, None))
        else:
            wanted.append(Wanted(last.first_index, last.started_at, None))
    return [w for w in wanted if w.index not in stored]


def read_file(container: Any, path: Path) -> bytes | None:
    """One file of a (dead) container, through the engine's archive API; None: it has none."""
    import docker.errors

    try:
        stream, _ = container.get_archive(str(path))
    except docker.errors.NotFound:
        return None
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        return member.read() if member is not None else None


def runs_of(container: Any, work_dir: Path) -> list[Run]:
    runs = []
    for number in range(1, MAX_RUNS):
        marker = read_file(container, work_dir / f"run-{number}.start")
        if marker is None:
            break
        segments = read_file(container, work_dir / f"run-{number}.csv") or b""
        runs.append(parse_run(marker.decode(), segments.decode(errors="replace")))
    return runs


def stored_indices(storage: ChunkStorage) -> set[int]:
    """The chunk numbers S3 holds under this recorder's epoch."""
    found = set()
    for item in storage.list_chunks():
        parsed = parse_chunk_key(item["Key"])
        if parsed is not None and parsed[1] == storage.config.epoch:
            found.add(parsed[0])
    return found


def salvage(container: Any, environment: Mapping[str, str], storage: ChunkStorage | None = None) -> list[int]:
    """Stores what the dead recorder (`container`, configured by `environment`) left unstored;
    returns the chunk numbers stored."""
    config = AgentConfig.model_validate(dict(environment))
    if not config.bucket:
        return []  # not an HA recorder: its chunks have nowhere to go
    storage = storage or ChunkStorage(config)
    runs = runs_of(container, config.work_dir)
    saved: list[int] = []
    with tempfile.TemporaryDirectory(prefix="ovha-salvage-") as scratch:
        for wanted in plan(runs, stored_indices(storage)):
            data = read_file(container, config.work_dir / f"{wanted.index:04d}.mp4")
            if not data:
                continue
            path = Path(scratch) / f"{wanted.index:04d}.mp4"
            path.write_bytes(data)
            duration = wanted.duration if wanted.duration is not None else keep_whole_fragments(path)
            if duration is None:
                log.info(
                    "chunk %04d of %s holds no whole fragment: nothing to salvage",
                    wanted.index,
                    config.video_id,
                )
                continue
            try:
                storage.put_chunk(Chunk(wanted.index, path, wanted.start, duration))
            except AlreadyStored:
                continue
            saved.append(wanted.index)
    if saved:
        log.warning(
            "salvaged chunks %s of %s (epoch %s) from its dead recorder", saved, config.video_id, config.epoch
        )
    return saved
