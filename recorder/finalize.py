"""Finalize: every chunk of every recorder, in one timeline, joined into one playable file.

Each chunk is cut back to its whole fragments first; one a crash left unreadable is left
out and the manifest says so (the original's concat stopped at such a chunk and silently
dropped everything after it). Chunks are placed by their wall-clock starts (`timeline`):
where two recorders hold the same moment, it plays once, and the manifest reports the
overlap left out. The manifest names each chunk's epoch (which recorder wrote it), its
wall-clock start and duration, the playing order, and the gap between recorders in seconds.

Fast enough for OpenVidu's 30 s whatever the length: a recorder joins its own chunks from
its disk (the copy it uploaded, same epoch folder, same size) and fetches only what other
recorders wrote, several at a time; a chunk whose duration the recorder wrote down is not
probed again. The primary joins straight into OpenVidu's folder (`openvidu_files`); the S3
copy is uploaded within what is left of the stop budget, or left to a finalizer task
(`python -m recorder finalize`), which rebuilds it from S3 alone. Chunks are deleted from
S3 only once the final file is stored there, and only when asked to.
"""

from __future__ import annotations

import itertools
import json
import logging
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from recorder import media, openvidu_files, timeline
from recorder.config import AgentConfig
from recorder.layout import entity_key, final_key, manifest_key, parse_chunk_key, thumbnail_key
from recorder.logs import store_logs
from recorder.storage import FETCHERS, ChunkStorage
from recorder.wire import ChunkEntry, Gap, Manifest

log = logging.getLogger("recorder.finalize")
GAP_THRESHOLD_S = 0.5  # closer than this, two chunks are continuous


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _local_copy(config: AgentConfig, index: int, epoch: int | None, size: int) -> Path | None:
    """The copy a recorder on this machine uploaded (its epoch's folder), if it is the same size."""
    if epoch is None:
        return None
    path = config.chunk_folder / config.video_id / f"e{epoch}" / f"{index:04d}.mp4"
    try:
        return path if path.stat().st_size == size else None
    except OSError:
        return None


def build_entries(
    config: AgentConfig, storage: ChunkStorage, scratch: Path
) -> tuple[list[ChunkEntry], dict[int, Path]]:
    """Every stored chunk, checked; and where each playable one is on this disk."""

    def one(item: dict[str, Any]) -> tuple[ChunkEntry, Path]:
        key = item["Key"]
        index, epoch = parse_chunk_key(key) or (-1, None)  # listed chunks only: always parsed
        meta = storage.head(key)
        if epoch is None and meta.get("epoch", "").isdigit():  # the original's keys: the metadata says
            epoch = int(meta["epoch"])
        path = _local_copy(config, index, epoch, int(item.get("Size", -1)))
        if path is None:
            path = scratch / key.rsplit("/", 1)[-1]
            storage.download(key, path)
        playable = media.chunk_duration(path, _number(meta.get("duration")))
        entry = ChunkEntry(
            index=index,
            key=key,
            epoch=epoch,
            wallclockStart=_number(meta.get("wallclock-start")),
            duration=playable if playable is not None else _number(meta.get("duration")),
            included=playable is not None,
            problem=None if playable is not None else "unreadable by ffprobe (truncated)",
        )
        return entry, path

    items = [i for i in storage.list_chunks() if parse_chunk_key(i["Key"]) is not None]
    with ThreadPoolExecutor(FETCHERS) as pool:
        results = sorted(pool.map(one, items), key=lambda pair: (pair[0].index, pair[0].epoch or 0))
    return [entry for entry, _ in results], {id(e): p for e, p in results if e.included}


def place(entries: list[ChunkEntry]) -> tuple[list[ChunkEntry], timeline.Arrangement]:
    """The included chunks in playing order (`playedSeconds` set), and the overlaps left out. A
    chunk is its number and epoch: one key in S3 each."""
    included = {(e.index, e.epoch): e for e in entries if e.included}
    arrangement = timeline.arrange(
        [timeline.Piece(e.index, e.epoch, e.wallclockStart, e.duration) for e in included.values()]
    )
    for overlap in arrangement.overlaps:
        if overlap.action == "dropped":
            entry = included[(overlap.index, overlap.epoch)]
            entry.included, entry.problem = False, "another recorder's chunk holds the same time"
    ordered = []
    for placed in arrangement.placed:
        entry = included[(placed.piece.index, placed.piece.epoch)]
        entry.playedSeconds = round(placed.seconds, 3)
        ordered.append(entry)
    return ordered, arrangement


def find_gaps(entries: list[ChunkEntry], ordered: list[ChunkEntry]) -> tuple[list[Gap], list[int]]:
    """Gaps between consecutive chunks in playing order, in wall-clock seconds, and the chunk
    numbers no recorder stored."""
    present = {e.index for e in entries}
    missing = sorted(set(range(min(present), max(present) + 1)) - present) if present else []
    gaps = []
    for before, after in itertools.pairwise(ordered):
        absent = [i for i in range(before.index + 1, after.index) if i not in present]
        seconds = None
        if before.wallclockStart is not None and after.wallclockStart is not None:
            played = before.playedSeconds if before.playedSeconds is not None else before.duration
            if played is not None:
                seconds = round(after.wallclockStart - (before.wallclockStart + played), 3)
        if before.epoch != after.epoch or absent or (seconds is not None and seconds > GAP_THRESHOLD_S):
            gaps.append(Gap(before.index, after.index, before.epoch, after.epoch, seconds, absent))
    return gaps, missing


def still_spans(storage: ChunkStorage) -> list[dict[str, Any]]:
    """Every recorder's still-picture spans, in time order, with their length in seconds."""
    spans = []
    for report in storage.health_reports():
        for span in report.get("stillSpans", []):
            end = span.get("end") or report.get("at")
            seconds = round(end - span["start"], 2) if end else None
            spans.append(
                {"epoch": report.get("epoch"), "start": span["start"], "end": end, "seconds": seconds}
            )
    return sorted(spans, key=lambda s: s["start"])


def finalize(config: AgentConfig, storage: ChunkStorage, deadline: float | None = None) -> Manifest:
    """Joins what S3 holds for VIDEO_ID. `deadline` (monotonic) bounds the S3 upload of the final
    file: past it the manifest says `s3Pending` and the final file's S3 copy is a finalizer's job."""
    scratch = Path(tempfile.mkdtemp(prefix=f"finalize-{config.video_id}-"))
    try:
        return _finalize(config, storage, scratch, deadline)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _finalize(config: AgentConfig, storage: ChunkStorage, scratch: Path, deadline: float | None) -> Manifest:
    entries, paths = build_entries(config, storage, scratch)
    unreadable = [e.index for e in entries if not e.included]
    playable, arrangement = place(entries)
    gaps, missing = find_gaps(entries, playable)
    manifest = Manifest(
        sessionId=config.video_id,
        final=None,
        duration=round(sum(e.playedSeconds or 0 for e in playable), 3),
        chunks=entries,
        gaps=gaps,
        epochs=sorted({e.epoch for e in entries if e.epoch is not None}),
        excluded=unreadable,
        missing=missing,
        finalizedAt=time.time(),
        finalizedBy=f"{config.hostname} (epoch {config.epoch}, {config.action})",
        bucket=config.bucket,
        stillSpans=still_spans(storage),
        timeline=[[e.index, e.epoch] for e in playable],
        overlaps=[asdict(o) for o in arrangement.overlaps],
        overlapSeconds=arrangement.overlap_seconds,
    )
    if arrangement.overlaps:
        log.warning(
            "%s: %.2fs held by two recorders (a split brain) played once",
            config.video_id,
            manifest.overlapSeconds,
        )
    if playable:
        cuts = [(paths[id(e)], e.playedSeconds if _was_cut(e) else None) for e in playable]
        final = _join(config, cuts, scratch)
        report = media.probe_report(final)
        thumb = scratch / f"{config.video_id}.jpg"
        has_thumb = media.thumbnail(final, thumb, float(report["format"].get("duration") or 0))
        streams = {s.get("codec_type") for s in report.get("streams", [])}
        manifest.size = int(report["format"].get("size") or final.stat().st_size)
        manifest.duration = round(float(report["format"].get("duration") or manifest.duration), 3)
        manifest.hasVideo, manifest.hasAudio = "video" in streams, "audio" in streams
        if has_thumb:
            storage.put_file(thumb, thumbnail_key(config.video_id, config.name), "image/jpeg")
        storage.put_bytes(
            json.dumps(openvidu_files.recording_metadata(config, report)).encode(),
            entity_key(config.video_id),
            "application/json",
        )
        if config.primary:
            openvidu_files.seal(config, report, thumb if has_thumb else None)
            manifest.local = str(final)
        manifest.final, manifest.s3Pending = _store_final(config, storage, final, deadline)
    manifest.logs = store_logs(config, storage)
    storage.put_bytes(
        json.dumps(asdict(manifest), indent=2).encode(),
        manifest_key(config.video_id),
        "application/json",
    )
    if manifest.final and config.delete_chunks_after_final:
        storage.delete([e.key for e in entries])
    log.info(
        "finalized %s: %s chunks, %.1fs, %s gap(s), %s excluded, S3 %s",
        config.video_id,
        len(playable),
        manifest.duration,
        len(gaps),
        len(manifest.excluded),
        manifest.final or ("pending" if manifest.s3Pending else "not kept (HA_RECORDING_STORAGE=local)"),
    )
    return manifest


def _was_cut(entry: ChunkEntry) -> bool:
    return (
        entry.playedSeconds is not None
        and entry.duration is not None
        and entry.playedSeconds < entry.duration - 1e-3
    )


def _join(config: AgentConfig, chunks: list[tuple[Path, float | None]], scratch: Path) -> Path:
    """The primary joins into OpenVidu's folder and takes the placeholder's place; others in scratch."""
    if not config.primary:
        final = scratch / f"{config.name}.{config.video_format}"
        media.concat(chunks, final, faststart=True)
        return final
    joining = openvidu_files.work_file(config)
    media.concat(chunks, joining)
    return openvidu_files.place(config, joining)


def _store_final(
    config: AgentConfig, storage: ChunkStorage, final: Path, deadline: float | None
) -> tuple[str | None, bool]:
    """(its S3 key or None, whether it is still owed to S3)."""
    if config.primary and config.recording_storage == "local":
        return None, False
    key = final_key(config.video_id, final.name)
    if deadline is None:
        storage.put_file(final, key, "video/mp4")
        return key, False
    stored = storage.put_file_before(final, key, "video/mp4", deadline)
    return (key, False) if stored else (None, True)
