"""Finalize: every chunk of every recorder, in order, joined into one playable file in S3.

Each chunk is checked with ffprobe first; one a crash left truncated is left out and
the manifest says so (the original's concat stopped at such a chunk and silently dropped
everything after it). The manifest names each chunk's epoch (which recorder wrote it),
its wall-clock start and duration, and the gap between recorders in seconds. Chunks are
deleted only once the final file is stored, and only when asked to.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recorder.capture import keep_whole_fragments
from recorder.config import AgentConfig
from recorder.storage import ChunkStorage

log = logging.getLogger("recorder.finalize")
GAP_THRESHOLD_S = 0.5  # closer than this, two chunks are continuous


@dataclass
class ChunkEntry:
    index: int
    key: str
    epoch: int | None
    wallclockStart: float | None
    duration: float | None
    included: bool = True
    problem: str | None = None


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
    final: str | None
    duration: float
    chunks: list[ChunkEntry]
    gaps: list[Gap]
    epochs: list[int]
    excluded: list[int]
    missing: list[int]
    finalizedAt: float
    finalizedBy: str


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def build_entries(storage: ChunkStorage, folder: Path) -> list[ChunkEntry]:
    """Downloads every chunk and checks it; the metadata says who wrote it and when it started."""
    entries = []
    for item in storage.list_chunks():
        key = item["Key"]
        name = key.rsplit("/", 1)[-1]
        if not name.split(".")[0].isdigit():
            continue
        meta = storage.head(key)
        local = folder / name
        storage.download(key, local)
        playable = keep_whole_fragments(local)  # a cut last packet would stop the concat there
        entries.append(
            ChunkEntry(
                index=int(name.split(".")[0]),
                key=key,
                epoch=int(meta["epoch"]) if meta.get("epoch", "").isdigit() else None,
                wallclockStart=_number(meta.get("wallclock-start")),
                duration=playable if playable is not None else _number(meta.get("duration")),
                included=playable is not None,
                problem=None if playable is not None else "unreadable by ffprobe (truncated)",
            )
        )
    return sorted(entries, key=lambda e: e.index)


def find_gaps(entries: list[ChunkEntry]) -> tuple[list[Gap], list[int]]:
    """Gaps between consecutive included chunks, in wall-clock seconds, and the chunk numbers missing."""
    included = [e for e in entries if e.included]
    present = {e.index for e in entries}
    gaps, missing = [], []
    for before, after in itertools.pairwise(included):
        absent = [i for i in range(before.index + 1, after.index) if i not in present]
        missing.extend(absent)
        seconds = None
        if (
            before.wallclockStart is not None
            and after.wallclockStart is not None
            and before.duration is not None
        ):
            seconds = round(after.wallclockStart - (before.wallclockStart + before.duration), 3)
        if before.epoch != after.epoch or absent or (seconds is not None and seconds > GAP_THRESHOLD_S):
            gaps.append(Gap(before.index, after.index, before.epoch, after.epoch, seconds, absent))
    return gaps, missing


def concat(paths: list[Path], output: Path) -> None:
    listing = output.with_suffix(".txt")
    listing.write_text("".join(f"file '{p}'\n" for p in paths))
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
            "-c",
            "copy",
            "-movflags",
            "+faststart",
            str(output),
        ],
        check=True,
        capture_output=True,
        timeout=3600,
    )


def thumbnail(video: Path, output: Path) -> bool:
    result = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-ss",
            "1",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-vf",
            "scale=480:-2",
            str(output),
        ],
        capture_output=True,
        timeout=120,
    )
    return result.returncode == 0 and output.exists()


def recording_metadata(config: AgentConfig, duration: float, size: int) -> dict[str, Any]:
    """OpenVidu's recording metadata (`.recording.<id>`), over the RECORDING_JSON it was started with."""
    base: dict[str, Any] = {}
    if config.recording_json:
        try:
            base = json.loads(config.recording_json)
        except ValueError:
            base = {}
    width, height = config.resolution.split("x")
    return base | {
        "id": config.video_id,
        "name": config.name,
        "outputMode": base.get("outputMode", "COMPOSED"),
        "hasAudio": not config.only_video,
        "hasVideo": True,
        "resolution": f"{width}x{height}",
        "frameRate": config.framerate,
        "duration": round(duration, 3),
        "size": size,
        "status": "ready",
        "createdAt": base.get("createdAt", int(time.time() * 1000)),
    }


def finalize(config: AgentConfig, storage: ChunkStorage) -> Manifest:
    with tempfile.TemporaryDirectory(prefix=f"finalize-{config.video_id}-") as scratch:
        folder = Path(scratch)
        entries = build_entries(storage, folder)
        gaps, missing = find_gaps(entries)
        playable = [e for e in entries if e.included]
        final_key = None
        duration = round(sum(e.duration or 0 for e in playable), 3)
        if playable:
            final = folder / f"{config.name}.{config.video_format}"
            concat([folder / e.key.rsplit("/", 1)[-1] for e in playable], final)
            final_key = f"{config.video_id}/{final.name}"
            storage.put_file(final, final_key, "video/mp4")
            meta = recording_metadata(config, duration, final.stat().st_size)
            storage.put_bytes(
                json.dumps(meta).encode(),
                f"{config.video_id}/.recording.{config.video_id}",
                "application/json",
            )
            thumb = folder / f"{config.name}.jpg"
            if thumbnail(final, thumb):
                storage.put_file(thumb, f"{config.video_id}/{thumb.name}", "image/jpeg")
        manifest = Manifest(
            sessionId=config.video_id,
            final=final_key,
            duration=duration,
            chunks=entries,
            gaps=gaps,
            epochs=sorted({e.epoch for e in entries if e.epoch is not None}),
            excluded=[e.index for e in entries if not e.included],
            missing=missing,
            finalizedAt=time.time(),
            finalizedBy=f"{config.hostname} (epoch {config.epoch})",
        )
        storage.put_bytes(
            json.dumps(asdict(manifest), indent=2).encode(),
            f"{config.video_id}/manifest.json",
            "application/json",
        )
        if final_key and config.delete_chunks_after_final:
            storage.delete([e.key for e in entries])
        log.info(
            "finalized %s: %s chunks, %.1fs, %s gap(s), %s excluded",
            config.video_id,
            len(playable),
            duration,
            len(gaps),
            len(manifest.excluded),
        )
        return manifest
