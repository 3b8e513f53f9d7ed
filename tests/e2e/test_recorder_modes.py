"""Both of OpenVidu's composed modes, with and without HA settings, through the OpenVidu emulator's
process runtime (a local process stands in for the container; tests/e2e/test_docker.py runs the
image itself): the stock recorder's files, and a quick-start container recording in turn."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from local.openvidu import OpenViduEmulator

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg is not installed")


def emulator(tmp_path: Path) -> OpenViduEmulator:
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    openvidu = OpenViduEmulator(recordings_path=recordings, webhook_url=None, containers_dir=tmp_path / "c")
    openvidu.image_env |= {"RECORDER_SOURCE": "synthetic"}  # no display here
    return openvidu


def test_the_stock_recorder_keeps_openvidus_contract_without_a_settings_file(tmp_path: Path) -> None:
    openvidu = emulator(tmp_path)
    recording = openvidu.record(5, name="meeting")
    assert recording.status == "ready", (recording.workdir / "container.log").read_text()[-2000:]
    assert recording.timings["file_s"] < 30
    assert recording.timings["stop_to_exit_s"] < 30
    assert recording.duration > 3
    assert recording.has_audio
    folder = openvidu.output_dir(recording)
    assert (folder / f"{recording.id}.jpg").stat().st_size > 0
    sealed = json.loads((folder / f".recording.{recording.id}").read_text())
    assert (sealed["status"], sealed["hasVideo"]) == ("ready", True)
    assert not list(folder.glob(".*.part"))  # nothing half-written left behind


def test_a_quick_start_container_records_recordings_in_turn(tmp_path: Path) -> None:
    openvidu = emulator(tmp_path)
    container = openvidu.open_session("ses_q")
    try:
        first = openvidu.record(4, session_id="ses_q")
        second = openvidu.record(4, session_id="ses_q")
        assert openvidu.containers.alive(container)
    finally:
        openvidu.close_session("ses_q")
    for recording in (first, second):
        assert recording.status == "ready", (container.workdir / "ffmpeg.log").read_text()[-2000:]
        assert recording.timings["stop_to_exit_s"] < 10
        assert (openvidu.output_dir(recording) / f"{recording.id}.jpg").exists()
    assert (first.id, second.id) == ("ses_q", "ses_q~1")
    assert not openvidu.containers.alive(container)


def test_removing_a_quick_start_container_ends_the_recording_inside_it(tmp_path: Path) -> None:
    """OpenVidu force-removes the session's container: nothing started in it by exec outlives it."""
    import os

    openvidu = emulator(tmp_path)
    container = openvidu.open_session("ses_x")
    recording = openvidu.start(session_id="ses_x")
    assert recording.status == "started"
    pid = json.loads((container.workdir / "quick-start-recording.json").read_text())["pid"]
    os.kill(pid, 0)  # the recording runs
    openvidu.close_session("ses_x")
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
