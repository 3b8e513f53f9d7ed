"""The OpenVidu 2.x emulator against the local stack (`python -m local up`), over real HTTP: a
recorder started exactly as OpenVidu starts it (nine variables, `RECORDINGS_PATH` at the folder
the stack prepared, its own working directory) and judged by OpenVidu's rules."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.openvidu import OpenViduEmulator
from local.receiver import Receiver
from local.runtime import free_port
from tests.integration.conftest import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make installs it)"
)


@pytest.fixture(scope="module")
def customer() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    receiver.up()
    yield receiver
    receiver.down()


@pytest.fixture(scope="module")
def media_node(
    tmp_path_factory: pytest.TempPathFactory, customer: Receiver
) -> Iterator[tuple[RunningStack, Path]]:
    tmp = tmp_path_factory.mktemp("media-node")
    recordings = tmp / "recordings"
    stack = start_stack(
        tmp,
        {
            "RECORDINGS_PATH": str(recordings),
            "HA_TIMING": "fast",
            "OPENVIDU_WEBHOOK_ENDPOINT": customer.url,
            "APP_PROCESS_STATE_DIR": str(tmp / "backups"),
        },
    )
    yield stack, recordings
    stop_stack(stack)


def emulator(stack: RunningStack, recordings: Path, tmp_path: Path, **options: Any) -> OpenViduEmulator:
    return OpenViduEmulator(
        recordings_path=recordings,
        webhook_url=f"{stack.url}/openvidu/webhook",
        containers_dir=tmp_path / "containers",
        **options,
    )


def customer_statuses(customer: Receiver, recording_id: str, terminal: bool = True) -> list[str]:
    deadline = time.monotonic() + 30
    while True:
        bodies = [json.loads(r["body"] or b"{}") for r in list(customer.requests)]
        statuses = [b["status"] for b in bodies if b.get("id") == recording_id and "status" in b]
        if not terminal or set(statuses) & {"ready", "failed"} or time.monotonic() > deadline:
            return statuses
        time.sleep(0.2)


def test_the_stack_prepared_the_media_nodes_env_in_the_originals_names(
    media_node: tuple[RunningStack, Path],
) -> None:
    stack, recordings = media_node
    text = (recordings / ".env").read_text()
    for name in (
        "HA_CONTROLLER_HOST",
        "HA_CONTROLLER_PORT",
        "HA_CONTROLLER_USERNAME",
        "HA_CONTROLLER_PASSWORD",
        "HA_AWS_S3_BUCKET",
        "HA_AWS_S3_SERVICE_ENDPOINT",
        "HA_AWS_ACCESS_KEY",
        "HA_AWS_SECRET_KEY",
        "RECORDER_SOURCE=synthetic",
    ):
        assert name in text
    assert f"HA_CONTROLLER_PORT={stack.url.rsplit(':', 1)[1]}" in text
    assert (recordings / ".env").stat().st_mode & 0o077 == 0  # it holds the controller's password


def test_a_recorder_started_as_openvidu_starts_it_records_and_is_ready(
    media_node: tuple[RunningStack, Path], customer: Receiver, tmp_path: Path
) -> None:
    stack, recordings = media_node
    openvidu = emulator(stack, recordings, tmp_path)
    recording = openvidu.start(name="meeting")
    assert recording.status == "started"
    assert set(openvidu.container_environment(recording)) == {
        "DEBUG_MODE",
        "URL",
        "ONLY_VIDEO",
        "RESOLUTION",
        "FRAMERATE",
        "VIDEO_ID",
        "VIDEO_NAME",
        "VIDEO_FORMAT",
        "RECORDING_JSON",
    }
    # what the process stands in for the image adds no HA setting: those come from the node's .env
    assert recording.container is not None
    assert "RECORDINGS_PATH" in recording.container.env  # the /recordings bind mount
    assert not any(k.startswith(("HA_", "AWS_", "CHUNK", "RECORDER_")) for k in recording.container.env)
    assert recording.timings["file_s"] < 30
    time.sleep(5)
    openvidu.stop(recording)
    assert recording.status == "ready"
    assert recording.timings["stop_to_exit_s"] < 30
    assert recording.duration > 4
    assert recording.size > 0
    folder = recordings / recording.id
    assert (folder / "meeting.mp4").stat().st_size == recording.size
    assert (folder / f"{recording.id}.jpg").stat().st_size > 0
    assert json.loads((folder / f".recording.{recording.id}").read_text())["status"] == "ready"
    assert not (folder / f"{recording.id}.info").exists()  # OpenVidu read it and deleted it
    assert customer_statuses(customer, recording.id) == ["started", "stopped", "ready"]
    session = stack_session(stack, recording.id)
    assert session["status"] == "COMPLETED"
    assert session["final"]["hasVideo"]


def stack_session(stack: RunningStack, session_id: str) -> dict[str, Any]:
    import requests

    return requests.get(f"{stack.url}/api/sessions/{session_id}", auth=stack.auth, timeout=10).json()


def test_a_recorder_that_never_writes_its_file_fails_the_start(
    media_node: tuple[RunningStack, Path], customer: Receiver, tmp_path: Path
) -> None:
    stack, recordings = media_node
    # An image without an X server: the capture stack cannot start its display, ffmpeg has nothing
    # to grab, and the file OpenVidu waits for never appears.
    no_x = tmp_path / "bin"
    no_x.mkdir()
    for tool in ("ffmpeg", "ffprobe"):
        (no_x / tool).symlink_to(shutil.which(tool) or tool)
    openvidu = emulator(stack, recordings, tmp_path, start_timeout_s=6, stop_timeout_s=15)
    openvidu.image_env |= {"RECORDER_SOURCE": "openvidu", "PATH": str(no_x)}
    recording = openvidu.start(name="broken")
    assert recording.status == "failed"
    assert not (recordings / recording.id / "broken.mp4").exists()
    assert recording.process is not None
    assert recording.process.poll() is not None  # stopped, as OpenVidu does
    assert customer_statuses(customer, recording.id) == ["failed"]


def test_a_recorder_that_ignores_q_is_killed_and_failed(
    media_node: tuple[RunningStack, Path], customer: Receiver, tmp_path: Path
) -> None:
    stack, recordings = media_node
    ignores_q = (
        "import os, pathlib, time\n"
        "out = pathlib.Path(os.environ['RECORDINGS_PATH'], os.environ['VIDEO_ID'])\n"
        "out.mkdir(parents=True, exist_ok=True)\n"
        "(out / (os.environ['VIDEO_NAME'] + '.mp4')).write_text('recording')\n"
        "time.sleep(600)\n"
    )
    openvidu = emulator(
        stack, recordings, tmp_path, stop_timeout_s=3, command=[sys.executable, "-c", ignores_q]
    )
    recording = openvidu.start(name="stubborn")
    assert recording.status == "started"
    openvidu.stop(recording)
    assert recording.status == "failed"
    assert 3 <= recording.timings["stop_to_exit_s"] < 10  # waited its time, then killed it
    assert recording.process is not None
    assert recording.process.returncode == -9
    assert (recordings / recording.id / "stop").exists() is False  # q went to the working directory
    assert (tmp_path / "containers" / f"recording_{recording.id}" / "stop").read_text() == "q\n"
    assert customer_statuses(customer, recording.id) == ["started", "stopped", "failed"]


def test_a_recorder_killed_before_any_takeover_still_ends_ready_for_the_customer(
    media_node: tuple[RunningStack, Path], customer: Receiver, tmp_path: Path
) -> None:
    """OpenVidu stops the recording before the detector noticed the dead recorder: OpenVidu says
    failed, but its chunks are in S3, so a finalizer joins them and the customer is told ready."""
    stack, recordings = media_node
    openvidu = emulator(stack, recordings, tmp_path)
    recording = openvidu.start(name="cut_short")
    assert recording.status == "started"
    time.sleep(5)  # two or so chunks stored
    openvidu.kill(recording)
    openvidu.stop(recording)  # at once: long before the heartbeat timeout
    assert recording.status == "failed"
    assert customer_statuses(customer, recording.id) == ["started", "stopped", "ready"]
    ready = [json.loads(r["body"]) for r in list(customer.requests)]
    ready = [b for b in ready if b.get("id") == recording.id and b.get("status") == "ready"]
    assert len(ready) == 1
    assert ready[0]["ha"]["recovered"] is False
    assert ready[0]["ha"]["key"] == f"{recording.id}/cut_short.mp4"
    assert ready[0]["duration"] > 2
    assert ready[0]["name"] == "cut_short"
    session = stack_session(stack, recording.id)
    assert session["status"] == "COMPLETED"
    assert session["customerTerminal"] == "ready"
    assert session["final"]["finalizedBy"].endswith("finalize)")


def test_a_controller_that_never_answers_delays_neither_the_file_nor_the_stop(
    media_node: tuple[RunningStack, Path], tmp_path: Path
) -> None:
    """A controller that accepts connections and never replies (a hung load balancer): the
    recorder still shows its file at once and leaves OpenVidu a ready recording in time."""
    import socket

    stack, recordings = media_node
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # connections complete in the backlog; nothing is ever read or answered
        openvidu = emulator(stack, recordings, tmp_path)
        openvidu.image_env |= {"HA_CONTROLLER_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        recording = openvidu.start(name="alone")
        assert recording.status == "started"
        assert recording.timings["file_s"] < 5
        time.sleep(4)
        openvidu.stop(recording)
    assert recording.status == "ready"
    assert recording.timings["stop_to_exit_s"] < 30
    assert recording.duration > 3
