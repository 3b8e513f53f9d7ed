"""An emulator of OpenVidu 2.x's side of a COMPOSED recording: the yardstick of the recorder.

It does what OpenVidu Server does on a media node (`ComposedRecordingService`,
`RecordingManager`, `LocalCustomFileManager`; see `shared/docs/openvidu-contract.md`), no more:

* start: runs the "container" (a process in its own fresh working directory, with only the
  nine variables OpenVidu sets, plus `RECORDINGS_PATH` standing for the `/recordings` bind
  mount, over the image's own ENV), then waits for `<id>/<name>.mp4` to exist and be non-empty,
  every 100 ms for at most 30 s. In time: `recordingStatusChanged` `started`. Not in time: the
  start fails, the container is stopped as at any stop, and the recording is `failed`.
* stop: `recordingStatusChanged` `stopped` (OpenVidu sends it before it touches the container),
  `q` into `stop` in the container's working directory (nothing if the container is gone: the
  exec fails), at most 30 s for it to exit, else killed and `failed`; then at most 30 s for the
  file to be non-empty, and `<id>.info`: a video stream makes it `ready` with the duration,
  size, resolution, frame rate and tracks read there (and `.info` is deleted); no `.info`, or
  no video in it, `failed`. The terminal `recordingStatusChanged` carries that status.
* it never watches the container while it records.

Webhooks go to `OPENVIDU_WEBHOOK_ENDPOINT` (here: the stack's `/openvidu/webhook`) with
`OPENVIDU_WEBHOOK_HEADERS`, once each, as OpenVidu sends them (no retries).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import requests

from local import ROOT

START_TIMEOUT_S = 30.0  # OpenVidu CE; 100 s in PRO's Docker cluster
STOP_TIMEOUT_S = 30.0
POLL_S = 0.1
# What the recorder image itself sets (its Dockerfile's ENV): a container gets this, plus OpenVidu's nine.
IMAGE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")


def image_environment() -> dict[str, str]:
    environment = {k: os.environ[k] for k in IMAGE_ENV_KEYS if k in os.environ}
    return environment | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}


def parse_headers(text: str | None) -> dict[str, str]:
    """OPENVIDU_WEBHOOK_HEADERS, as OpenVidu reads it: a JSON array of `"Name: value"` strings."""
    if not text:
        return {}
    headers = {}
    for entry in json.loads(text):
        name, _, value = str(entry).partition(":")
        headers[name.strip()] = value.strip()
    return headers


@dataclass
class Recording:
    """OpenVidu's recording entity, and the container that records it."""

    id: str
    name: str
    session_id: str
    resolution: str = "320x240"
    frame_rate: int = 15
    has_audio: bool = True
    created_at: int = field(default_factory=lambda: int(time.time() * 1000))
    status: str = "starting"
    reason: str | None = None
    size: int = 0
    duration: float = 0.0
    has_video: bool = True
    workdir: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def unique_session_id(self) -> str:
        return f"{self.session_id}_{self.created_at}"

    def to_json(self) -> dict[str, Any]:
        """`Recording.toJson(true)`: what RECORDING_JSON and `.recording.<id>` hold."""
        return {
            "id": self.id,
            "object": "recording",
            "name": self.name,
            "outputMode": "COMPOSED",
            "resolution": self.resolution,
            "frameRate": self.frame_rate,
            "recordingLayout": "BEST_FIT",
            "sessionId": self.session_id,
            "uniqueSessionId": self.unique_session_id,
            "createdAt": self.created_at,
            "size": self.size,
            "duration": self.duration,
            "url": None,
            "hasAudio": self.has_audio,
            "hasVideo": self.has_video,
            "status": self.status,
        }

    def webhook(self, status: str) -> dict[str, Any]:
        """`recordingStatusChanged`, with the fields CDREventRecordingStatus carries."""
        event: dict[str, Any] = {
            "event": "recordingStatusChanged",
            "timestamp": int(time.time() * 1000),
            "sessionId": self.session_id,
            "uniqueSessionId": self.unique_session_id,
            "startTime": self.created_at,
            "id": self.id,
            "name": self.name,
            "outputMode": "COMPOSED",
            "resolution": self.resolution,
            "frameRate": self.frame_rate,
            "recordingLayout": "BEST_FIT",
            "hasAudio": self.has_audio,
            "hasVideo": self.has_video,
            "size": self.size,
            "duration": self.duration,
            "status": status,
        }
        if status != "started" and self.reason:
            event["reason"] = self.reason
        return event


@dataclass
class OpenViduEmulator:
    recordings_path: Path  # the host's OPENVIDU_RECORDING_PATH, bind-mounted at /recordings
    webhook_url: str | None
    containers_dir: Path  # where each container's working directory is made
    webhook_headers: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "recorder"])
    image_env: dict[str, str] = field(default_factory=image_environment)
    layout_url: str | None = None  # the page the recorder's browser opens (OpenVidu's layout URL)
    start_timeout_s: float = START_TIMEOUT_S
    stop_timeout_s: float = STOP_TIMEOUT_S
    on_event: Callable[[dict[str, Any]], None] | None = None

    # --- OpenVidu's RecordingManager.startRecording ----------------------------------

    def start(self, name: str = "recording", session_id: str | None = None, **properties: Any) -> Recording:
        session_id = session_id or f"ses_{uuid.uuid4().hex[:10]}"
        recording = Recording(id=self._free_id(session_id), name=name, session_id=session_id, **properties)
        recording.workdir = self.containers_dir / f"recording_{recording.id.replace('~', '_')}"
        recording.workdir.mkdir(parents=True)
        began = time.monotonic()
        recording.process = subprocess.Popen(
            self.command,
            cwd=recording.workdir,
            env=self.container_environment(recording),
            stdout=(recording.workdir / "container.log").open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if self._wait_for_file(recording, self.start_timeout_s):
            recording.timings["file_s"] = round(time.monotonic() - began, 3)
            recording.status = "started"
            self._send(recording, "started")
            return recording
        # failStartRecording: failed, then the container is stopped as at any stop (reason null)
        recording.status = "failed"
        self._stop_container(recording)
        self._send(recording, "failed")
        return recording

    def container_environment(self, recording: Recording) -> dict[str, str]:
        """ComposedRecordingService's nine variables, over the image's ENV; nothing else."""
        return self.image_env | {
            "RECORDINGS_PATH": str(self.recordings_path),
            "DEBUG_MODE": "false",
            "URL": self.layout_url
            or f"https://127.0.0.1:4443/#/layout-best-fit/{recording.session_id}/SECRET/4443/false",
            "ONLY_VIDEO": str(not recording.has_audio).lower(),
            "RESOLUTION": recording.resolution,
            "FRAMERATE": str(recording.frame_rate),
            "VIDEO_ID": recording.id,
            "VIDEO_NAME": recording.name,
            "VIDEO_FORMAT": "mp4",
            "RECORDING_JSON": json.dumps(recording.to_json(), separators=(",", ":")),
        }

    # --- OpenVidu's RecordingManager.stopRecording -----------------------------------

    def stop(self, recording: Recording, reason: str = "recordingStoppedByServer") -> Recording:
        if recording.status != "started":
            return recording
        recording.reason = reason
        recording.status = "stopped"
        self._seal(recording)
        self._send(recording, "stopped")
        began = time.monotonic()
        killed = self._stop_container(recording)
        recording.timings["stop_to_exit_s"] = round(time.monotonic() - began, 3)
        if killed:
            recording.status = "failed"
        else:
            self._wait_for_file(recording, self.stop_timeout_s)
            self._read_info(recording)
        self._seal(recording)
        self._send(recording, recording.status)
        return recording

    def kill(self, recording: Recording) -> None:
        """The fault the drill injects: the whole container dies (SIGKILL to every process in it)."""
        if recording.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(recording.process.pid, signal.SIGKILL)
            recording.process.wait(timeout=10)

    def record(self, seconds: float, kill_at: float | None = None, **properties: Any) -> Recording:
        """Start, record `seconds`, stop; kill the container at second `kill_at` if given."""
        recording = self.start(**properties)
        if recording.status != "started":
            return recording
        began = time.monotonic()
        if kill_at is not None and kill_at < seconds:
            time.sleep(kill_at)
            self.kill(recording)
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))
        return self.stop(recording)

    # --- the pieces -------------------------------------------------------------------

    def output_dir(self, recording: Recording) -> Path:
        return self.recordings_path / recording.id

    def _free_id(self, session_id: str) -> str:
        """RecordingManager.getFreeRecordingId: the session id, then `~1`, `~2`... if taken."""
        candidate, n = session_id, 0
        while (self.recordings_path / candidate).exists():
            n += 1
            candidate = f"{session_id}~{n}"
        return candidate

    def _wait_for_file(self, recording: Recording, seconds: float) -> bool:
        """LocalCustomFileManager.waitForFileToExistAndNotEmpty: every 100 ms, for `seconds`."""
        video = self.output_dir(recording) / f"{recording.name}.mp4"
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if video.stat().st_size > 0:
                    return True
            time.sleep(POLL_S)
        return False

    def _stop_container(self, recording: Recording) -> bool:
        """`echo 'q' > stop` in the container, 30 s to exit, else force-removed. True: it was killed."""
        process, workdir = recording.process, recording.workdir
        if process is None or workdir is None or process.poll() is not None:
            return False  # the exec fails on a dead container; the wait returns at once
        (workdir / "stop").write_text("q\n")
        try:
            process.wait(timeout=self.stop_timeout_s)
            return False
        except subprocess.TimeoutExpired:
            self.kill(recording)
            return True

    def _read_info(self, recording: Recording) -> None:
        """RecordingInfoUtils: `<id>.info` decides ready or failed, and is deleted once read."""
        info = self.output_dir(recording) / f"{recording.id}.info"
        try:
            report = json.loads(info.read_text())
        except (OSError, ValueError):
            recording.status = "failed"
            return
        streams = report.get("streams", [])
        video = next((s for s in streams if s.get("codec_type") == "video"), None)
        if video is None:
            recording.status = "failed"
        else:
            recording.status = "ready"
            recording.duration = float(report["format"]["duration"])
            recording.size = int(report["format"]["size"])
            recording.resolution = f"{video['width']}x{video['height']}"
            recording.frame_rate = round(float(Fraction(video.get("r_frame_rate") or "0/1")))
            recording.has_audio = any(s.get("codec_type") == "audio" for s in streams)
            recording.has_video = True
        info.unlink(missing_ok=True)

    def _seal(self, recording: Recording) -> None:
        """`.recording.<id>`, rewritten by OpenVidu at each status."""
        folder = self.output_dir(recording)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f".recording.{recording.id}").write_text(json.dumps(recording.to_json()))

    def _send(self, recording: Recording, status: str) -> None:
        event = recording.webhook(status)
        recording.events.append(event)
        if self.on_event is not None:
            self.on_event(event)
        if not self.webhook_url:
            return
        with contextlib.suppress(requests.RequestException):  # OpenVidu logs a failed webhook, goes on
            requests.post(self.webhook_url, json=event, headers=self.webhook_headers, timeout=10)
