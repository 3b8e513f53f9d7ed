"""The files OpenVidu reads in `/recordings/<id>/`, written as the stock recorder writes them.

OpenVidu is the primary recorder's only caller, and it judges the recording by files alone:
`<name>.mp4` must exist and be non-empty within 30 s of the start, or the start fails;
after the stop it reads `<id>.info` (ffprobe's JSON of the final file) and concludes
`ready` only if that names a video stream. So: `.recording.<id>` at start, from
RECORDING_JSON; `<name>.mp4` as soon as the capture really runs (a placeholder, as the
original HA recorder wrote, replaced atomically by the final file); at the end the thumbnail,
the sealed `.recording.<id>`, and `<id>.info` last, once everything it describes is in place.
Only the primary writes here: backups and finalizers run where OpenVidu's folder is not.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from recorder.config import AgentConfig

log = logging.getLogger("recorder.openvidu")
PLACEHOLDER = b"Recording by chunks (OpenVidu HA recorder): the final file replaces this at stop.\n"


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


def prepare(config: AgentConfig) -> None:
    """At start: the recording's folder, `.recording.<id>` from RECORDING_JSON (as composed.sh
    does), and an empty `stop` in the working directory, where OpenVidu will write its `q`."""
    config.output_dir.mkdir(parents=True, exist_ok=True)
    if config.recording_json:
        _write_atomically(metadata_file(config), config.recording_json.encode())
    config.stop_file.write_text("")


def announce_capture(config: AgentConfig) -> bool:
    """The capture runs: `<name>.mp4` exists and is not empty, which is what OpenVidu waits for."""
    target = config.output_file
    if target.exists() and target.stat().st_size > 0:
        return False
    _write_atomically(target, PLACEHOLDER)
    log.info("%s is in place: OpenVidu sees the recording started", target)
    return True


def stop_written(stop_file: Path) -> bool:
    """OpenVidu's `echo 'q' > stop` has happened: the file says something (it is empty until then)."""
    try:
        return stop_file.exists() and bool(stop_file.read_text().strip())
    except OSError:
        return False


def metadata_file(config: AgentConfig) -> Path:
    return config.output_dir / f".recording.{config.video_id}"


def work_file(config: AgentConfig) -> Path:
    """Where the final file is joined: beside its place, so that moving it there is one rename."""
    return config.output_dir / f".{config.name}.{config.video_format}.joining"


def recording_metadata(config: AgentConfig, report: dict[str, Any]) -> dict[str, Any]:
    """OpenVidu's recording entity (`.recording.<id>`) over the RECORDING_JSON it was started with,
    sealed with what the final file really holds."""
    base: dict[str, Any] = {}
    if config.recording_json:
        try:
            parsed = json.loads(config.recording_json)
            base = parsed if isinstance(parsed, dict) else {}
        except ValueError:
            base = {}
    streams = report.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"), {})
    file_format = report.get("format", {})
    resolution = f"{video['width']}x{video['height']}" if video.get("width") else config.resolution
    return base | {
        "id": config.video_id,
        "name": config.name,
        "outputMode": base.get("outputMode", "COMPOSED"),
        "hasAudio": any(s.get("codec_type") == "audio" for s in streams),
        "hasVideo": bool(video),
        "resolution": resolution,
        "frameRate": base.get("frameRate", config.framerate),
        "duration": round(float(file_format.get("duration") or 0), 3),
        "size": int(file_format.get("size") or 0),
        "status": "ready" if video else "failed",
        "createdAt": base.get("createdAt", int(time.time() * 1000)),
    }


def place(config: AgentConfig, joined: Path) -> Path:
    """The final file takes the placeholder's place in one rename: OpenVidu never sees half a file."""
    os.replace(joined, config.output_file)
    return config.output_file


def seal(config: AgentConfig, report: dict[str, Any], thumbnail: Path | None) -> None:
    """After the final file is in place: the thumbnail, the sealed entity, and `.info` last."""
    if thumbnail is not None:  # copied: it may come from another filesystem than the bind mount
        _write_atomically(config.output_dir / f"{config.video_id}.jpg", thumbnail.read_bytes())
        thumbnail.unlink(missing_ok=True)
    _write_atomically(metadata_file(config), json.dumps(recording_metadata(config, report)).encode())
    _write_atomically(config.output_dir / f"{config.video_id}.info", json.dumps(report, indent=2).encode())
    log.info("%s is final; %s.info written", config.output_file, config.video_id)
