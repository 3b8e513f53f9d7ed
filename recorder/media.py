"""What ffmpeg and ffprobe do to the recorder's files: check a chunk, join chunks, describe the result.

The rule kept here: no chunk with a cut packet ever reaches the concat (ffmpeg's concat stops
at it and silently drops everything after), and no file is probed twice when the recorder
already knows its duration: at OpenVidu's stop every second counts (30 s, whatever the length).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("recorder.media")
FFMPEG = ("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y")


def probe_duration(path: Path) -> float | None:
    """The playable duration of a chunk, or None if ffprobe cannot read it (truncated, empty)."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    try:
        duration = float(out.stdout.strip())
    except ValueError:
        return None
    return duration if out.returncode == 0 and duration > 0 else None


@dataclass(frozen=True)
class BoxScan:
    size: int
    whole: int  # where the last whole box (a moof only with its mdat) ends
    fragments: int  # whole moof+mdat pairs


def scan_boxes(path: Path) -> BoxScan:
    """Walks the top-level MP4 boxes: reads 8 to 16 bytes a box, never the media."""
    size = path.stat().st_size
    whole = offset = fragments = 0
    after_moof = False
    with path.open("rb") as chunk:
        while offset + 8 <= size:
            chunk.seek(offset)
            length, kind = struct.unpack(">I4s", chunk.read(8))
            if length == 1:  # a 64-bit size follows the type
                (length,) = struct.unpack(">Q", chunk.read(8))
            elif length == 0:  # the last box, to the end of the file (legal, if not what ffmpeg writes)
                length = size - offset
            if length < 8 or offset + length > size:  # cut short
                break
            offset += length
            if kind == b"moof":  # a moof is whole only with the mdat after it
                after_moof = True
                continue
            fragments += after_moof and kind == b"mdat"
            after_moof = False
            whole = offset
    return BoxScan(size, whole, fragments)


def keep_whole_fragments(path: Path) -> float | None:
    """A chunk whose ffmpeg was killed mid-write ends inside its last fragment; a cut AAC frame
    breaks decoding too. Fragmented MP4 is a run of top-level boxes (ftyp, moov, then moof+mdat
    pairs), so the file is cut back to the end of its last whole pair: what stays is a valid
    file, and no packet in it is cut. Returns its playable duration (None: nothing is)."""
    scan = scan_boxes(path)
    _cut(path, scan)
    return probe_duration(path)


def chunk_duration(path: Path, known: float | None) -> float | None:
    """A stored chunk's playable duration. A whole fragmented chunk whose duration the recorder
    recorded needs no ffprobe (720 of them would take half of OpenVidu's 30 s); a cut one, a
    plain MP4 or one of unknown length is probed."""
    scan = scan_boxes(path)
    if _cut(path, scan) or not scan.fragments or known is None or known <= 0:
        return probe_duration(path)
    return known


def _cut(path: Path, scan: BoxScan) -> bool:
    if scan.whole >= scan.size:
        return False
    log.warning(
        "chunk %s was cut inside a fragment; kept its first %d of %d bytes", path.name, scan.whole, scan.size
    )
    os.truncate(path, scan.whole)
    return True


def concat(chunks: list[tuple[Path, float | None]], output: Path, faststart: bool = False) -> None:
    """Joins chunks without re-encoding (the concat demuxer, `-c copy`); a chunk with an out point
    plays only its first that many seconds. `faststart` moves the index to the front for
    progressive playback from S3, at the price of writing the file twice."""
    listing = output.with_name(f".{output.name}.txt")
    listing.write_text(
        "".join(
            f"file '{path}'\n" + (f"outpoint {outpoint:.3f}\n" if outpoint is not None else "")
            for path, outpoint in chunks
        )
    )
    try:
        subprocess.run(
            [
                *FFMPEG,
                *("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"),
                *(("-movflags", "+faststart") if faststart else ()),
                *("-f", "mp4", str(output)),
            ],
            check=True,
            capture_output=True,
            timeout=3600,
        )
    finally:
        listing.unlink(missing_ok=True)


def thumbnail(video: Path, output: Path, duration: float) -> bool:
    """A 480 px wide frame from the middle of the video, as the stock recorder leaves it."""
    result = subprocess.run(
        [
            *FFMPEG,
            *("-ss", f"{max(0.0, duration / 2):.3f}", "-i", str(video)),
            *("-frames:v", "1", "-vf", "scale=480:-2", "-f", "image2", str(output)),
        ],
        capture_output=True,
        timeout=120,
    )
    return result.returncode == 0 and output.exists() and output.stat().st_size > 0


def probe_report(video: Path) -> dict[str, Any]:
    """`ffprobe -show_format -show_streams` as JSON: OpenVidu's `<id>.info`, read for ready/failed."""
    out = subprocess.run(
        [
            *("ffprobe", "-v", "quiet", "-print_format", "json"),
            *("-show_format", "-show_streams", str(video)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report: dict[str, Any] = json.loads(out.stdout)
    return report
