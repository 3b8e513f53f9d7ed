"""The pure pieces behind the recorder image: the stock recorder's ffmpeg line, the engine's events
read as stopped tasks, OpenVidu's quick-start start line, the host's Debian mirror, the engine's
ownership rule. The image itself runs in tests/e2e/test_docker.py."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from hacore.failover.task_events import recorder_stopped
from hacore.launchers.docker_launcher import DockerLauncher
from hacore.settings import Settings
from local import engine, image
from local.openvidu import OpenViduEmulator
from recorder import quick_start, stock
from recorder.config import AgentConfig


def stock_config(tmp_path: Path, **extra: str) -> AgentConfig:
    return AgentConfig.from_env(
        {"VIDEO_ID": "ses_A", "VIDEO_NAME": "meeting", "RECORDINGS_PATH": str(tmp_path), **extra}
    )


def test_without_a_controller_and_a_bucket_the_agent_is_the_stock_recorder(tmp_path: Path) -> None:
    assert not stock_config(tmp_path).ha
    assert not stock_config(tmp_path, HA_CONTROLLER_URL="http://ctl").ha  # a bucket too, or no HA
    assert stock_config(tmp_path, HA_CONTROLLER_HOST="ctl", HA_AWS_S3_BUCKET="b").ha


def test_the_stock_recording_is_composed_sh_s_ffmpeg_line(tmp_path: Path) -> None:
    config = stock_config(tmp_path, RESOLUTION="640x360", FRAMERATE="30")
    command = stock.stock_command(config, ":5")
    line = " ".join(command)
    assert "-f x11grab -draw_mouse 0 -framerate 30 -video_size 640x360 -i :5" in line
    assert "-f pulse" in line
    assert "-c:a aac" in line
    for setting in ("-c:v libx264", "-crf 28", "-refs 4", "-qmin 4", "-pix_fmt yuv420p", "-preset veryfast"):
        assert setting in line
    assert "-filter:v fps=30" in line
    assert command[-1] == str(
        tmp_path / "ses_A" / "meeting.mp4"
    )  # written directly, as OpenVidu waits for it
    silent = stock.stock_command(stock_config(tmp_path, ONLY_VIDEO="true"), ":5", preset="ultrafast")
    assert "-c:a" not in silent
    assert "pulse" not in silent
    assert "ultrafast" in silent


def launcher() -> DockerLauncher:
    return DockerLauncher(Settings.from_env({"APP_FAILOVER_LAUNCHER": "docker"}), {})


def die(ref: str, code: str) -> dict:
    labels = {"session.id": "ses~1", "epoch": "2", "container.type": "backup-recorder", "exitCode": code}
    return {"id": ref, "Action": "die", "Actor": {"ID": ref, "Attributes": labels}}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([die("c1", "137")], ("ses~1", 137, False)),  # a crash: nobody asked the engine
        ([{"id": "c1", "Action": "kill"}, die("c1", "0")], ("ses~1", 0, True)),  # docker stop
        (
            [{"id": "c1", "Action": "kill"}, {"id": "c1", "Action": "start"}, die("c1", "1")],
            ("ses~1", 1, False),
        ),
    ],
)
def test_an_engine_die_is_a_stopped_task_on_purpose_only_if_the_engine_was_asked(
    events: list[dict], expected: tuple
) -> None:
    docker = launcher()
    asked: set[str] = set()
    for event in events:
        docker._on_event(event, asked)
    (reported,) = [docker._stopped.get_nowait()]
    stopped = recorder_stopped(reported)
    assert stopped is not None
    assert (stopped.session_id, stopped.exit_code, stopped.on_purpose) == expected
    assert stopped.ref == "c1"
    assert asked == set()


def test_openvidu_starts_a_quick_start_recording_with_one_backgrounded_shell_line(tmp_path: Path) -> None:
    from local.openvidu import Recording

    emulator = OpenViduEmulator(recordings_path=tmp_path, webhook_url=None, containers_dir=tmp_path)
    recording = Recording(id="ses_q~1", name="it's", session_id="ses_q")
    line = emulator.start_line(recording)
    assert line.endswith("./composed_quick_start.sh --start-recording > ffmpeg.log 2>&1 &")
    words = shlex.split(line.split(" && ./composed")[0].replace(" && ", " ; "))
    exported = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in words if "=" in w}
    assert set(exported) == {
        *("DEBUG_MODE", "RESOLUTION", "FRAMERATE", "ONLY_VIDEO", "VIDEO_ID", "VIDEO_NAME"),
        *("VIDEO_FORMAT", "RECORDING_JSON"),
    }
    assert (exported["VIDEO_ID"], exported["VIDEO_NAME"]) == ("ses_q~1", "it's")  # quoted for the shell


def test_a_stop_with_no_recording_running_fails_as_openvidu_would_see_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(quick_start, "STATE_FILE", tmp_path / "state.json")
    monkeypatch.chdir(tmp_path)
    assert quick_start.stop_recording({"RECORDINGS_PATH": str(tmp_path)}) == 1
    (tmp_path / "state-recording.json").write_text('{"pid": 999999999, "videoId": "ses_B"}')
    assert quick_start.stop_recording({"RECORDINGS_PATH": str(tmp_path)}) == 1  # that process is gone
    (tmp_path / "ses_B").mkdir()
    (tmp_path / "ses_B" / "ses_B.jpg").write_bytes(b"jpg")
    assert quick_start.stop_recording({"RECORDINGS_PATH": str(tmp_path)}) == 0  # already recorded


def test_one_recording_at_a_time_in_a_quick_start_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second start must not take the running recording's stop file (OpenVidu never asks for two)."""
    monkeypatch.setattr(quick_start, "STATE_FILE", tmp_path / "state.json")
    quick_start.recording_file().write_text(json.dumps({"pid": os.getpid(), "videoId": "ses_A"}))
    environ = {"VIDEO_ID": "ses_A~1", "RECORDINGS_PATH": str(tmp_path)}
    assert quick_start.start_recording(environ, lambda *_: pytest.fail("no second recording")) == 1
    assert json.loads(quick_start.recording_file().read_text())["videoId"] == "ses_A"  # untouched


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("debian.sources", "Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm\n\n"
         "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"),
        ("sources.list", "deb http://mirror.example/debian-security bookworm-security main\n"
         "deb [arch=amd64] http://mirror.example/debian bookworm main\n"),
    ],
)  # fmt: skip
def test_the_base_is_made_from_the_hosts_own_debian_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    monkeypatch.setattr(image, "SOURCES", (tmp_path / "none", tmp_path / name))
    assert image.host_mirror() == "http://mirror.example/debian"


def test_no_mirror_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image, "SOURCES", (tmp_path / "none",))
    with pytest.raises(SystemExit, match="BASE_IMAGE"):
        image.host_mirror()


def test_an_engine_this_project_did_not_start_is_never_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PID_FILE", tmp_path / "dockerd.pid")
    assert engine.stop() is False  # no pid file: not ours, whatever runs
    monkeypatch.setattr(engine, "answers", lambda: False)
    monkeypatch.setattr(engine.shutil, "which", lambda _: None)
    assert "docker.io" in (engine.why_not() or "")
    with pytest.raises(engine.NoEngine, match=r"docker\.io"):
        engine.start()


def test_an_ha_recording_in_a_quick_start_container_uses_the_holders_stack_as_it_is(tmp_path: Path) -> None:
    """Its display and sound; it neither reloads the page the holder opened nor stops the stack the
    session's next recording needs; its heartbeats' health has the usual shape."""
    from recorder.agent import Agent
    from recorder.controller import Controller
    from recorder.storage import ChunkStorage

    config = stock_config(
        tmp_path,
        HA_CONTROLLER_URL="http://ctl",
        HA_AWS_S3_BUCKET="b",
        CHUNK_FOLDER=str(tmp_path / "chunks"),
    )
    env = {"DISPLAY": ":7", "PULSE_SERVER": "unix:/tmp/p/native", "PULSE_RUNTIME_PATH": "/tmp/p"}
    attached = quick_start.AttachedStack(config, ":7", env)
    agent = Agent(config, Controller(config), ChunkStorage(config), warm_stack=attached)
    assert agent.stack is attached
    assert agent.capture.display == ":7"
    assert agent.capture.env is not None
    assert agent.capture.env["PULSE_SERVER"] == "unix:/tmp/p/native"
    attached.take_over(config)
    attached.check()
    attached.stop()
    assert attached.started  # still the holder's
    assert agent.health() == {
        "restarts": {"page": 0, "ffmpeg": 0},
        "frozenSeconds": 0,
        "stillNow": False,
    }
    assert agent.restarts() == 0
