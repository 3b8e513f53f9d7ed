"""OpenVidu's COMPOSED_QUICK_START mode: one container per session, recordings started and stopped
by `docker exec` of `./composed_quick_start.sh --start-recording` / `--stop-recording`.

The rule it keeps (`shared/docs/openvidu-contract.md`, "COMPOSED_QUICK_START"): the container's
own process holds the capture stack (X, PulseAudio, the browser already in the room) for the
session's whole life and supervises it; each recording is a process of its own on that display,
which is HA (its own session for the controller, chunks, heartbeats, takeovers) when HA settings
are given, and OpenVidu's stock recording otherwise; `--stop-recording` writes the `q` and returns
within OpenVidu's 10 s, and the files (`<id>.info`, the thumbnail) follow within its file wait.
The holder and the recordings meet through two files, each written by one side only: the holder's
(its display and sound server, once they are up: a recording started earlier waits for them) and
the recording in progress (its process and id, for the stop).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recorder.config import AgentConfig
from recorder.settings_file import merged_environment
from recorder.stack import CaptureStack, FreezeState, StackBroken

log = logging.getLogger("recorder.quick_start")
STATE_FILE = Path(os.environ.get("QUICK_START_STATE", "/tmp/ovha-quick-start.json"))  # noqa: S108
STOP_RETURNS_WITHIN_S = 8.0  # OpenVidu gives the stop command 10 s
HOLDER_WAIT_S = 20.0  # a recording started with the container waits this long for its display
HOLDER_VIDEO_ID = "quick-start"
# The agent's HA recording (environment, the stack to record on): passed in, so this module needs no agent
RecordHa = Callable[[dict[str, str], CaptureStack | None], int]


def recording_file() -> Path:
    return STATE_FILE.with_name(f"{STATE_FILE.stem}-recording.json")


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write(path: Path, state: dict[str, Any]) -> None:
    partial = path.with_name(f".{path.name}.part")
    partial.write_text(json.dumps(state))
    os.replace(partial, path)


def _holder(wait_s: float) -> dict[str, Any]:
    """The holder's state once it is ready (its display up), waiting at most `wait_s`."""
    deadline = time.monotonic() + wait_s
    while True:
        state = _read(STATE_FILE)
        if state.get("ready") or time.monotonic() >= deadline:
            return state
        time.sleep(0.1)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie has exited: /proc says so
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


# --- the container's own process ---------------------------------------------------------


def hold(environ: dict[str, str]) -> int:
    """No argument: the session's capture stack, kept up until the container is removed."""
    config = AgentConfig.from_env({"VIDEO_ID": HOLDER_VIDEO_ID, **merged_environment(environ)})
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stack = CaptureStack(config) if config.source == "openvidu" else None
    if stack is not None:
        stack.start()
    _write(
        STATE_FILE,
        {
            "ready": True,
            "holder": os.getpid(),
            "display": stack.display if stack else None,
            "env": {k: stack.env[k] for k in ("DISPLAY", "PULSE_RUNTIME_PATH", "PULSE_SERVER")}
            if stack
            else {},
        },
    )
    log.info("quick-start container ready: %s", f"display {stack.display}" if stack else "synthetic source")
    try:
        while not stopping.wait(1.0):
            if stack is not None:
                stack.check()
    except StackBroken as error:
        log.error("the session's capture stack cannot go on: %s", error)
        return 4
    finally:
        if stack is not None:
            stack.stop()
    return 0


class AttachedStack(CaptureStack):
    """The holder's stack seen from a recording: its display and sound, watched by the holder, so
    the recording neither starts, reloads nor stops it (the next recording needs it as it is)."""

    def __init__(self, config: AgentConfig, display: str, env: dict[str, str]) -> None:
        self.config = config
        self.display = display
        self.env = {**os.environ, **env}
        self.components = {}
        self.page_reloads = 0
        self.freeze = FreezeState()

    @property
    def started(self) -> bool:
        return True

    def fits(self, config: AgentConfig) -> bool:
        return True

    def take_over(self, config: AgentConfig) -> None:
        self.config = config  # the browser is already in the session's room

    def start(self) -> None:
        return None

    def check(self) -> None:
        return None

    def on_frozen(self, started: bool, wallclock: float) -> None:
        return None

    def stop(self) -> None:
        return None


# --- `--start-recording` / `--stop-recording` ---------------------------------------------


def start_recording(environ: dict[str, str], record_ha: RecordHa) -> int:
    """Records the recording OpenVidu's exported variables describe, on the holder's display; runs
    until its `q` (OpenVidu backgrounds this command). `record_ha` is the agent's `record` (HA)."""
    merged = merged_environment(environ)
    config = AgentConfig.from_env(merged)
    current = _read(recording_file())
    if _alive(current.get("pid")):
        log.error("a recording is already running in this container: %s", current)
        return 1
    _write(recording_file(), {"pid": os.getpid(), "videoId": config.video_id})
    state = _holder(HOLDER_WAIT_S)
    if not state.get("ready"):
        log.warning("the container's capture stack is not up after %.0f s: recording anyway", HOLDER_WAIT_S)
    display, env = state.get("display"), state.get("env") or {}
    if config.ha:
        warm = AttachedStack(config, display, env) if display and config.source == "openvidu" else None
        return record_ha(merged, warm)
    from recorder import stock
    from recorder.logs import keep_agent_log

    keep_agent_log(config)
    recording = stock.StockRecording(config, display, {**os.environ, **env}, preset="ultrafast")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: recording.stop_requested.set())
    recording.start()
    recording.wait()
    return recording.finish()


def stop_recording(environ: dict[str, str]) -> int:
    """`q` into ./stop, then back within OpenVidu's 10 s: the recording seals its files by itself."""
    current = _read(recording_file())
    config = AgentConfig.from_env({"VIDEO_ID": current.get("videoId") or HOLDER_VIDEO_ID, **environ})
    if (config.output_dir / f"{config.video_id}.jpg").exists():
        log.info("%s is already recorded", config.video_id)
        return 0
    if not _alive(current.get("pid")):
        log.error("no recording runs in this container")
        return 1
    config.stop_file.write_text("q\n")
    deadline = time.monotonic() + STOP_RETURNS_WITHIN_S
    while _alive(current["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    return 0


def main(start: bool, stop: bool, environ: dict[str, str], record_ha: RecordHa) -> int:
    """`./composed_quick_start.sh [--start-recording | --stop-recording]`."""
    if start:
        return start_recording(environ, record_ha)
    if stop:
        return stop_recording(environ)
    return hold(environ)
