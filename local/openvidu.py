"""An emulator of OpenVidu 2.x's side of a COMPOSED recording: the yardstick of the recorder.

It does what OpenVidu Server does on a media node (`ComposedRecordingService`,
`ComposedQuickStartRecordingService`, `RecordingManager`, `LocalCustomFileManager`; see
`shared/docs/openvidu-contract.md`), no more. The container is the recorder image on a real Docker
engine, or a local process standing in for it (`local/containers.py`):

* start: runs container `recording_<id>` (only the nine variables OpenVidu sets, the recordings
  folder at `/recordings`), then waits for `<id>/<name>.mp4` to exist and be non-empty, every
  100 ms for at most 30 s. In time: `recordingStatusChanged` `started`. Not in time: the start
  fails, the container is stopped as at any stop, and the recording is `failed`.
* stop: `recordingStatusChanged` `stopped` (OpenVidu sends it before it touches the container),
  `echo 'q' > stop` by exec in the container's working directory (nothing if the container is
  gone: the exec fails), at most 30 s for it to exit, else killed and `failed`; the container is
  removed; then at most 30 s for the file to be non-empty, and `<id>.info`: a video stream makes
  it `ready` with the duration, size, resolution, frame rate and tracks read there (and `.info` is
  deleted); no `.info`, or no video in it, `failed`. The terminal event carries that status.
* COMPOSED_QUICK_START: the session's container starts with the session (`open_session`); each
  recording starts by exec of `./composed_quick_start.sh --start-recording` (backgrounded) and
  stops by exec of `--stop-recording` (10 s at most), then `.info` and the thumbnail are waited
  for; the container is removed at the session's end (`close_session`).
* it never watches the container while it records.

Webhooks go to `OPENVIDU_WEBHOOK_ENDPOINT` (here: the stack's `/openvidu/webhook`) with
`OPENVIDU_WEBHOOK_HEADERS`, once each, as OpenVidu sends them (no retries).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import requests

from local.containers import STOP_LINE, Container, ProcessRuntime, Runtime

START_TIMEOUT_S = 30.0  # OpenVidu CE; 100 s in PRO's Docker cluster
STOP_TIMEOUT_S = 30.0
STOP_COMMAND_TIMEOUT_S = 10.0  # COMPOSED_QUICK_START's start and stop commands
POLL_S = 0.1


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
    container: Container | None = None
    process: Any = None  # the process runtime's container process (the drill's primary)
    events: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def quick_start(self) -> bool:
        """Recorded by its session's COMPOSED_QUICK_START container, not a container of its own."""
        return (
            self.container is not None and self.container.env.get("RECORDING_TYPE") == "COMPOSED_QUICK_START"
        )

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
    # the process runtime's program, and the image ENV it stands in for (Docker: the image's own)
    command: list[str] = field(default_factory=lambda: [sys.executable, "-m", "recorder"])
    image_env: dict[str, str] = field(default_factory=dict)
    runtime: Runtime | None = None  # None: the process runtime
    sessions: dict[str, Container] = field(default_factory=dict)  # quick-start: a container per session
    layout_url: str | None = None  # the page the recorder's browser opens (OpenVidu's layout URL)
    start_timeout_s: float = START_TIMEOUT_S
    stop_timeout_s: float = STOP_TIMEOUT_S
    on_event: Callable[[dict[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if self.runtime is None:
            self.runtime = ProcessRuntime(self.recordings_path, self.command, self.image_env)

    @property
    def containers(self) -> Runtime:
        """What runs the recording containers: the Docker engine, or local processes."""
        assert self.runtime is not None
        return self.runtime

    # --- OpenVidu's RecordingManager.startRecording ----------------------------------

    def start(self, name: str = "recording", session_id: str | None = None, **properties: Any) -> Recording:
        session_id = session_id or f"ses_{uuid.uuid4().hex[:10]}"
        recording = Recording(id=self._free_id(session_id), name=name, session_id=session_id, **properties)
        began = time.monotonic()
        session = self.sessions.get(session_id)
        if session is not None:  # COMPOSED_QUICK_START: the session's container records it
            recording.container = session
            recording.workdir = session.workdir
            self.containers.exec(session, self.start_line(recording), timeout=STOP_COMMAND_TIMEOUT_S)
        else:
            name_ = f"recording_{recording.id.replace('~', '_')}"
            recording.workdir = self.containers_dir / name_
            recording.container = self.containers.run(
                name_, recording.workdir, self.container_environment(recording)
            )
            recording.process = recording.container.process
        if self._wait_for_file(recording, self.start_timeout_s):
            recording.timings["file_s"] = round(time.monotonic() - began, 3)
            recording.status = "started"
            self._send(recording, "started")
            return recording
        # failStartRecording: failed, then the recording is stopped as at any stop (reason null): its
        # container, or in quick-start mode the session container's recording (the container stays)
        recording.status = "failed"
        if recording.quick_start:
            self._stop_quick_start(recording)
        else:
            self._stop_container(recording)
        self._send(recording, "failed")
        return recording

    # --- COMPOSED_QUICK_START (ComposedQuickStartRecordingService) -------------------------

    def open_session(self, session_id: str, resolution: str = "320x240", frame_rate: int = 15) -> Container:
        """The session's container, started with the session: Chrome in the room, nothing recorded."""
        name = f"recording_{session_id}"
        env = {
            "DEBUG_MODE": "false",
            "RECORDING_TYPE": "COMPOSED_QUICK_START",
            "RESOLUTION": resolution,
            "FRAMERATE": str(frame_rate),
            "URL": self.layout_url
            or f"https://127.0.0.1:4443/#/layout-best-fit/{session_id}/SECRET/4443/false",
        }
        self.sessions[session_id] = self.containers.run(name, self.containers_dir / name, env)
        return self.sessions[session_id]

    def close_session(self, session_id: str) -> None:
        """The session ended: OpenVidu force-removes its container."""
        container = self.sessions.pop(session_id, None)
        if container is not None:
            self.containers.remove(container)

    def start_line(self, recording: Recording) -> str:
        """The one shell line OpenVidu runs inside the session's container to start a recording."""
        env = self.container_environment(recording)
        exports = " && ".join(
            f"export {key}={shlex.quote(env[key])}"
            for key in ("DEBUG_MODE", "RESOLUTION", "FRAMERATE", "ONLY_VIDEO", "VIDEO_ID", "VIDEO_NAME")
        )
        json_ = shlex.quote(env["RECORDING_JSON"])
        log = "/var/log/ffmpeg.log" if self.containers.name == "docker" else "ffmpeg.log"
        return (
            f"{exports} && export VIDEO_FORMAT=mp4 && export RECORDING_JSON={json_} && "
            f"./composed_quick_start.sh --start-recording > {log} 2>&1 &"
        )

    def container_environment(self, recording: Recording) -> dict[str, str]:
        """ComposedRecordingService's nine variables, over the image's ENV; nothing else."""
        return {
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
        if recording.quick_start:
            failed = self._stop_quick_start(recording)
        else:
            failed = self._stop_container(recording)
        recording.timings["stop_to_exit_s"] = round(time.monotonic() - began, 3)
        if failed:
            recording.status = "failed"
        else:
            self._wait_for_file(recording, self.stop_timeout_s)
            if recording.quick_start:  # waitForVideoFileNotEmpty on `.info` and the thumbnail too
                self._wait_for_file(recording, self.stop_timeout_s, f"{recording.id}.info")
                self._wait_for_file(recording, self.stop_timeout_s, f"{recording.id}.jpg")
            self._read_info(recording)
        self._seal(recording)
        self._send(recording, recording.status)
        return recording

    def _stop_quick_start(self, recording: Recording) -> bool:
        """`./composed_quick_start.sh --stop-recording`, synchronously, 10 s at most; True: failed."""
        assert recording.container is not None
        code = self.containers.exec(
            recording.container, "./composed_quick_start.sh --stop-recording", timeout=STOP_COMMAND_TIMEOUT_S
        )
        return code != 0

    def kill(self, recording: Recording) -> None:
        """The fault the drill injects: the whole container dies (SIGKILL to every process in it)."""
        if recording.container is not None:
            self.containers.kill(recording.container)

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

    def _wait_for_file(self, recording: Recording, seconds: float, file_name: str | None = None) -> bool:
        """LocalCustomFileManager.waitForFileToExistAndNotEmpty: every 100 ms, for `seconds`."""
        video = self.output_dir(recording) / (file_name or f"{recording.name}.mp4")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if video.stat().st_size > 0:
                    return True
            time.sleep(POLL_S)
        return False

    def _stop_container(self, recording: Recording) -> bool:
        """`echo 'q' > stop` in the container, 30 s to exit, else killed; then removed, as OpenVidu
        does. True: it was killed."""
        container = recording.container
        if container is None:
            return False
        killed = False
        if self.containers.alive(container):  # the exec fails on a dead container; the wait returns at once
            self.containers.exec(container, STOP_LINE, timeout=10)
            if not self.containers.wait(container, self.stop_timeout_s):
                self.containers.kill(container)
                killed = True
        self.containers.remove(container)
        return killed

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
