"""The capture stack's rules, piece by piece: supervised processes restart with backoff up to a
limit; freezedetect's reports are read from ffmpeg's log; a still picture is acted on in order
(reload, browser restart, then only reported, less and less often), never looped on."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from recorder.capture import Capture, video_filter
from recorder.config import AgentConfig
from recorder.ports import free_port
from recorder.stack import CaptureStack, free_display, page_renderer_pids
from recorder.supervisor import Component, GaveUp

BASE = {"VIDEO_ID": "rec1", "HA_CONTROLLER_URL": "http://ctl", "HA_AWS_S3_BUCKET": "b"}


def config(tmp_path: Path, **extra: str) -> AgentConfig:
    return AgentConfig.from_env(
        BASE | {"CHUNK_FOLDER": str(tmp_path), "RECORDINGS_PATH": str(tmp_path)} | extra
    )


def test_a_supervised_process_restarts_later_each_time_and_gives_up_at_its_limit(tmp_path: Path) -> None:
    piece = Component("browser", max_restarts=2)
    piece.launch([sys.executable, "-c", "pass"], tmp_path / "log", {})
    piece.process.wait(timeout=10)  # type: ignore[union-attr]
    assert not piece.alive
    began = time.monotonic()
    piece.count_restart("exited")
    first_wait = piece.next_start_at - began
    piece.count_restart("exited again")
    assert piece.next_start_at - began > first_wait  # backoff
    with pytest.raises(GaveUp, match="browser failed 3 times"):
        piece.count_restart("and again")


def test_ffmpeg_dies_with_the_agent_as_the_stack_does(tmp_path: Path) -> None:
    """An agent killed by SIGKILL leaves no ffmpeg behind: the kernel ends it (PR_SET_PDEATHSIG)."""
    agent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from recorder.capture import Capture;"
            "from recorder.config import AgentConfig;"
            f"c = Capture(AgentConfig.from_env({{**{BASE!r}, 'RECORDER_SOURCE': 'synthetic', "
            "'CHUNK_FOLDER': sys.argv[1], 'RECORDINGS_PATH': sys.argv[1]}));"
            "c.start(); print(c._process.pid, flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    ffmpeg = int(agent.stdout.readline())  # type: ignore[union-attr]
    assert Path(f"/proc/{ffmpeg}/cmdline").read_bytes().startswith(b"ffmpeg")
    time.sleep(1)
    assert _running(ffmpeg), "ffmpeg did not start recording"
    agent.kill()
    agent.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _running(ffmpeg):
        assert time.monotonic() < deadline, "ffmpeg outlived its agent"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_a_killed_piece_is_seen_dead(tmp_path: Path) -> None:
    piece = Component("display", max_restarts=1)
    piece.launch([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "log", {})
    assert piece.alive
    piece.kill()
    assert not piece.alive


def test_freezedetect_is_on_every_capture_and_its_reports_are_read_once(tmp_path: Path) -> None:
    cfg = config(tmp_path, CAPTURE_FROZEN_SECONDS="7")
    assert "freezedetect=n=-60dB:d=7" in video_filter(cfg)[-1]
    capture = Capture(cfg)
    capture.runs = 1
    capture._run_started = 1000.0
    log = capture.folder / "ffmpeg-1.log"
    log.write_text(
        "Stream mapping: ...\n[freezedetect @ 0x1] lavfi.freezedetect.freeze_start: 12.5\n[freezede"
    )
    assert capture.freeze_events() == [(True, 1012.5)]
    with log.open("a") as more:
        more.write("tect @ 0x1] lavfi.freezedetect.freeze_end: 20.25\n")
    assert capture.freeze_events() == [(False, 1020.25)]  # the half line waited for its end
    assert capture.freeze_events() == []


class Steps:
    """What the stack did, instead of doing it (a unit test of the order, not of Chromium)."""

    def __init__(self, stack: CaptureStack) -> None:
        self.done: list[str] = []
        stack.reload_page = lambda: self.done.append("reload")  # type: ignore[method-assign]
        stack._start_browser = lambda: self.done.append("browser")  # type: ignore[method-assign]


def test_a_still_picture_is_reloaded_then_the_browser_restarted_then_only_reported(tmp_path: Path) -> None:
    stack = CaptureStack(config(tmp_path, CAPTURE_FROZEN_SECONDS="10"))
    steps = Steps(stack)
    stack.on_frozen(True, 1000.0)
    stack._act_on_freeze(0.0)
    stack._act_on_freeze(10.0)
    assert steps.done == ["reload", "browser"]
    waits = []
    for _ in range(4):  # a truly still layout: no more reloads, looks further and further apart
        before = stack.freeze.next_action_at
        stack._act_on_freeze(before)
        waits.append(stack.freeze.next_action_at - before)
    assert steps.done == ["reload", "browser"]
    assert waits == sorted(waits)
    assert waits[-1] > waits[0]
    assert stack.health()["stillNow"] is True
    stack.on_frozen(False, 1030.0)
    assert stack.health()["frozenSeconds"] == 30.0
    assert stack.freeze.spans == [{"start": 1000.0, "end": 1030.0}]


def test_two_recorders_on_one_machine_get_two_displays(tmp_path: Path, monkeypatch: Any) -> None:
    taken = {"/tmp/.X99-lock", "/tmp/.X11-unix/X100", "/proc/1"}  # X99 held by a live process (pid 1)
    monkeypatch.setattr(Path, "exists", lambda self: str(self) in taken)
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "1\n")
    assert free_display(":99") == ":101"
    assert free_display(":50") == ":50"
    taken.discard("/proc/1")  # the X server that held :99 is gone: its lock is taken back
    monkeypatch.setattr(Path, "unlink", lambda self, missing_ok=False: taken.discard(str(self)))
    assert free_display(":99") == ":99"
    assert "/tmp/.X99-lock" not in taken


def test_an_x_server_of_another_container_on_the_host_network_is_seen(tmp_path: Path) -> None:
    """A recorder container has its own /tmp but the host's network: another recorder's X server
    shows only as an abstract socket. Its display is not taken again."""
    number = 150 + os.getpid() % 500
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"\0/tmp/.X11-unix/X{number}")
    listener.listen(1)
    try:
        assert not Path(f"/tmp/.X{number}-lock").exists()
        assert free_display(f":{number}") == f":{number + 1}"
    finally:
        listener.close()
    assert free_display(f":{number}") == f":{number}"


def test_no_page_renderer_below_a_process_without_a_browser(tmp_path: Path) -> None:
    import subprocess

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert page_renderer_pids(sleeper.pid) == []
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_reload_the_browser_cannot_answer_is_counted_as_a_browser_restart(tmp_path: Path) -> None:
    """A killed browser's renderers vanish first: the reload that follows finds no DevTools, and the
    restart it does instead is the browser's, not a page reload (what the session and metric show)."""
    stack = CaptureStack(config(tmp_path))
    stack.devtools_port = free_port()  # nothing listens there
    started: list[str] = []
    stack._start_browser = lambda: started.append("browser")  # type: ignore[method-assign]
    stack.reload_page()
    assert started == ["browser"]
    assert stack.health()["restarts"] == {"display": 0, "audio": 0, "browser": 1, "page": 0}
