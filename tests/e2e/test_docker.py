"""The recorder image on a real Docker engine, run exactly as OpenVidu runs it, and backups as its
containers: one focused suite (the rest of the e2e suite runs the recorder as a process).

What OpenVidu does is the emulator's Docker runtime (`local/containers.py`): container
`recording_<id>`, network host, the recordings folder at `/recordings`, only OpenVidu's variables,
`docker exec ... echo 'q' > stop` in the image's working directory, 30 s, removal; in
COMPOSED_QUICK_START, `./composed_quick_start.sh --start-recording` / `--stop-recording` by exec.
A real Chromium inside the container records the test page (a moving clock and a tone).
Where no engine can run, every test here is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local import containers, engine, test_page
from local.drill.probes import wait
from local.openvidu import OpenViduEmulator
from local.runtime import free_port
from tests.helpers import register_body
from tests.integration.conftest import RunningStack, start_stack, stop_stack

pytestmark = pytest.mark.docker
IMAGE = os.environ.get("IMAGE") or "openvidu-ha-recorder:latest"
NINE = {
    *("DEBUG_MODE", "URL", "ONLY_VIDEO", "RESOLUTION", "FRAMERATE"),
    *("VIDEO_ID", "VIDEO_NAME", "VIDEO_FORMAT", "RECORDING_JSON"),
}


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[Any]:
    reason = engine.why_not()
    if reason:
        pytest.skip(reason)
    started = engine.start()
    yield engine.client(timeout=120)
    if started:
        engine.stop()


@pytest.fixture(scope="module")
def image(docker_engine: Any) -> str:
    """The image `make test` built; built here if it is missing (a run of this file alone)."""
    import docker.errors

    try:
        docker_engine.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        from local.image import build

        build(IMAGE)
    return IMAGE


@pytest.fixture(scope="module")
def page() -> Iterator[test_page.TestPage]:
    served = test_page.TestPage(free_port()).up()
    yield served
    served.down()


def emulator(recordings: Path, workdir: Path, image: str, **options: Any) -> OpenViduEmulator:
    recordings.mkdir(parents=True, exist_ok=True)
    return OpenViduEmulator(
        recordings_path=recordings,
        containers_dir=workdir / "containers",
        runtime=containers.docker_runtime(recordings, image),
        **options,
    )


def probe(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["ffprobe", "-v", "quiet", "-print_format", "json", "-show_streams", "-show_format", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def test_without_ha_settings_the_container_is_openvidus_stock_recorder(
    image: str, page: test_page.TestPage, tmp_path: Path
) -> None:
    """No `.env`, nothing but OpenVidu's nine variables: one file, `q` to stop, `.info`, thumbnail."""
    recordings = tmp_path / "recordings"
    openvidu = emulator(recordings, tmp_path, image, webhook_url=None, layout_url=page.url)
    recording = openvidu.start(name="meeting", resolution="640x360")
    assert recording.status == "started", (tmp_path / "containers").glob("*/container.log")
    assert recording.container is not None
    attrs = recording.container.docker.attrs
    image_env = {e.split("=")[0] for e in openvidu.containers.client.images.get(image).attrs["Config"]["Env"]}
    given = {e.split("=")[0] for e in attrs["Config"]["Env"]} - image_env
    assert given == NINE  # nothing else reaches the container
    assert attrs["HostConfig"]["NetworkMode"] == "host"
    assert attrs["HostConfig"]["Binds"] == [f"{recordings}:/recordings:rw"]
    assert attrs["Config"]["WorkingDir"] == ""  # OpenVidu's `echo 'q' > stop` lands in /stop
    assert recording.timings["file_s"] < 30
    time.sleep(6)
    openvidu.stop(recording)
    assert recording.status == "ready", (recording.workdir / "container.log").read_text()[-3000:]
    assert recording.timings["stop_to_exit_s"] < 30
    assert recording.duration > 4
    assert (recording.resolution, recording.has_audio) == ("640x360", True)
    folder = recordings / recording.id
    assert not (folder / f"{recording.id}.info").exists()  # read and deleted by OpenVidu
    streams = probe(folder / "meeting.mp4")["streams"]
    assert {s["codec_type"] for s in streams} == {"video", "audio"}
    thumbnail = probe(folder / f"{recording.id}.jpg")["streams"][0]
    assert thumbnail["width"] == 480
    assert json.loads((folder / f".recording.{recording.id}").read_text())["status"] == "ready"
    log = (recording.workdir / "container.log").read_text()
    assert "recording as OpenVidu's stock recorder" in log
    assert not openvidu.containers.alive(recording.container)  # removed, as OpenVidu removes it


def test_quick_start_records_two_recordings_in_turn_in_one_container(
    image: str, page: test_page.TestPage, tmp_path: Path
) -> None:
    recordings = tmp_path / "recordings"
    openvidu = emulator(recordings, tmp_path, image, webhook_url=None, layout_url=page.url)
    session = openvidu.open_session("ses_quick", resolution="640x360")
    try:
        time.sleep(3)  # Chrome joins the room before the first recording, as in OpenVidu
        done = []
        for _ in range(2):
            recording = openvidu.record(5, session_id="ses_quick", resolution="640x360")
            assert recording.status == "ready", (session.workdir / "container.log").read_text()[-3000:]
            assert recording.container is session
            assert recording.timings["stop_to_exit_s"] < 10  # the stop command's limit
            assert (recordings / recording.id / f"{recording.id}.jpg").stat().st_size > 0
            assert recording.has_audio
            done.append(recording.id)
        assert done == ["ses_quick", "ses_quick~1"]
        assert openvidu.containers.alive(session)  # it stays for the session's next recording
    finally:
        openvidu.close_session("ses_quick")
    assert not openvidu.containers.alive(session)


@pytest.fixture(scope="module")
def media_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, Path]]:
    folder = tmp_path_factory.mktemp("node")
    recordings = folder / "recordings"
    running = start_stack(folder, {"RECORDINGS_PATH": str(recordings)})
    yield running, recordings
    stop_stack(running)


def test_with_ha_settings_in_its_env_file_the_container_records_for_the_controller(
    image: str, media_node: tuple[RunningStack, Path], tmp_path: Path
) -> None:
    """The node's `/recordings/.env` (as `make up` writes it) makes the same image the HA recorder."""
    stack, recordings = media_node
    openvidu = emulator(recordings, tmp_path, image, webhook_url=f"{stack.url}/openvidu/webhook")
    recording = openvidu.record(12, name="meeting")
    assert recording.status == "ready", (recording.workdir / "container.log").read_text()[-3000:]
    session = requests.get(f"{stack.url}/api/sessions/{recording.id}", auth=stack.auth, timeout=10).json()
    assert session["status"] == "COMPLETED"
    assert session["recordingPath"] == f"s3://ovha-local-recordingsbucket/{recording.id}/meeting.mp4"
    assert int(session["lastChunk"].split(".")[0]) >= 1


def test_quick_start_recordings_are_each_their_own_session_for_the_controller(
    image: str, media_node: tuple[RunningStack, Path], tmp_path: Path
) -> None:
    stack, recordings = media_node
    openvidu = emulator(recordings, tmp_path, image, webhook_url=f"{stack.url}/openvidu/webhook")
    openvidu.open_session("ses_qha")
    try:
        ids = [openvidu.record(8, session_id="ses_qha").id for _ in range(2)]
    finally:
        openvidu.close_session("ses_qha")
    for recording_id in ids:
        session = requests.get(f"{stack.url}/api/sessions/{recording_id}", auth=stack.auth, timeout=10).json()
        assert (session["status"], session["epoch"]) == ("COMPLETED", 1), session


def wait_for_stopped(launcher: Any, seconds: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        events = launcher.stopped_events()
        if events:
            return events
        time.sleep(0.1)
    return []


def test_the_docker_launcher_runs_labelled_backups_and_reports_how_each_stopped(
    image: str, tmp_path: Path
) -> None:
    """A stop the engine was asked for (graceful or forced) is on purpose; a crash (SIGKILL from
    outside) is not."""
    from hacore.failover.task_events import recorder_stopped
    from hacore.launchers.base import BackupSpec
    from hacore.launchers.docker_launcher import DockerLauncher
    from hacore.settings import Settings

    name, tag = image.rsplit(":", 1)
    settings = Settings.from_env(
        {
            "APP_FAILOVER_LAUNCHER": "docker",
            "APP_DOCKER_OPENVIDU_IMAGE": name,
            "APP_DOCKER_IMAGE_TAG": tag,
            "APP_DOCKER_NETWORK": "host",
            "APP_DOCKER_RECORDINGS_PATH": str(tmp_path),
        }
    )
    launcher = DockerLauncher(settings, {})
    assert launcher.stopped_events() == []  # follows the engine's events from now on
    env = {"VIDEO_ID": "ses~1", "RECORDER_SOURCE": "synthetic", "RESOLUTION": "320x240"}
    refs = []
    try:
        ref = launcher.launch(BackupSpec("ses~1", 2, "0007", env))
        refs.append(ref)
        info = launcher.describe(ref)
        assert info is not None
        assert (info.session_id, info.start_chunk, info.epoch, info.state) == ("ses~1", "0007", 2, "running")
        assert launcher.launch(BackupSpec("ses~1", 2, "0007", env)) == ref  # idempotent per epoch
        assert [b.ref for b in launcher.list()] == [ref]
        container = launcher._client().containers.get(ref)
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
        assert container.attrs["HostConfig"]["Binds"] == [f"{tmp_path}:/recordings:rw"]
        time.sleep(3)
        assert launcher.stop(ref)  # graceful: SIGTERM, the recorder closes its file and exits
        stopped = [recorder_stopped(e) for e in wait_for_stopped(launcher)]
        assert [(s.ref, s.session_id, s.exit_code, s.on_purpose) for s in stopped if s] == [
            (ref, "ses~1", 0, True)
        ]

        crashed = launcher.launch(BackupSpec("ses~1", 3, "0009", env))
        refs.append(crashed)
        time.sleep(1)
        containers.crash(launcher._client().containers.get(crashed))
        stopped = [recorder_stopped(e) for e in wait_for_stopped(launcher)]
        assert [(s.ref, s.exit_code, s.on_purpose) for s in stopped if s] == [(crashed, 137, False)]

        forced = launcher.launch(BackupSpec("ses~1", 4, "0011", env))
        refs.append(forced)
        assert launcher.stop(forced, force=True)  # through the engine: a stop on purpose, at once
        stopped = [recorder_stopped(e) for e in wait_for_stopped(launcher)]
        assert [(s.ref, s.exit_code, s.on_purpose) for s in stopped if s] == [(forced, 137, True)]
        assert launcher.list() == []  # none of them runs
    finally:
        for ref in refs:
            launcher._client().containers.get(ref).remove(force=True)


def test_a_killed_primary_and_a_crashed_backup_container_are_taken_over(tmp_path: Path, image: str) -> None:
    """The drill on containers (fast timing): OpenVidu's container killed, a backup container takes
    over; that backup crashes, and its `die` has the session claimed again at once."""
    from local.drill.run import Run
    from local.drill.stack import start_stack as start_drill_stack
    from local.drill.stack import stop_stack as stop_drill_stack

    stack = start_drill_stack(tmp_path, "fast", runtime="docker")
    try:
        (tmp_path / "run").mkdir()
        result = Run(stack, tmp_path / "run", "backup-kill", random.Random(5)).execute()
    finally:
        stop_drill_stack(stack)
    failed = sorted(name for name, held in result["checks"].items() if not held)
    assert not failed, f"{failed}: {json.dumps(result, default=str)}"
    assert result["runtime"] == "docker"
    assert result["epochs"] == [1, 2, 3]
    assert result["relaunch_s"] <= 2, result  # the engine's `die`, not the heartbeat timeout
    assert result["mean_volume_db"] > -60  # a real browser, with its tone
    terminal = result["customer_terminal"]
    assert (terminal["status"], terminal["count"]) == ("ready", 1)


def test_sam_local_invoke_runs_the_api_function_against_the_local_stack(
    docker_engine: Any, media_node: tuple[RunningStack, Path]
) -> None:
    """The SAM CLI's own `sam local invoke` (its emulator, the built function) on a runtime image made
    offline; the heartbeat it sends lands in the running stack's table."""
    stack, recordings = media_node
    built = Path(__file__).resolve().parents[2] / ".aws-sam" / "build" / "ApiFunction"
    if not built.is_dir():
        pytest.skip("no sam build output: make sam-build (make test runs it first)")
    registered = requests.post(
        f"{stack.url}/api/sessions",
        json={"sessionId": "sample_rec", "clientId": "sam", "clientHost": "127.0.0.1", "status": "started"},
        auth=stack.auth,
        timeout=10,
    )
    assert registered.status_code in (200, 201), registered.text
    done = subprocess.run(
        [sys.executable, "-m", "local", "sam-invoke", "ApiFunction", "events/heartbeat.json"],
        cwd=built.parents[2],
        env=os.environ | {"RECORDINGS_PATH": str(recordings)},
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["statusCode"] == 200, reply
    assert json.loads(reply["body"])["message"] == "Heartbeat updated"
    session = requests.get(f"{stack.url}/api/sessions/sample_rec", auth=stack.auth, timeout=10).json()
    assert (session["status"], session["lastChunk"]) == ("RECORDING", "0000.mp4")  # in the stack's table


def test_the_media_node_watcher_reports_a_killed_recorder_at_once(
    docker_engine: Any, image: str, tmp_path: Path
) -> None:
    """The watcher runs as its `docker run` line says (the recorder image, the node's Docker socket,
    network host); a recording container is killed: the controller claims the takeover the moment
    the engine reports the death, long before the 30 s heartbeat timeout (default timing)."""
    stack = start_stack(
        tmp_path, {"APP_PROCESS_BACKUP_COMMAND": "sleep 300", "APP_PROCESS_STATE_DIR": str(tmp_path)}
    )
    http = requests.Session()
    http.auth = stack.auth
    session_id = f"watch_{random.randrange(10**6)}"
    user, password = stack.auth
    env = {"HA_CONTROLLER_URL": stack.url, "HA_CONTROLLER_USERNAME": user, "HA_CONTROLLER_PASSWORD": password}
    started: list[Any] = []
    try:
        watcher = docker_engine.containers.run(
            image,
            entrypoint=["/opt/ovha/venv/bin/python", "-m", "recorder", "watch"],
            environment=env | {"HOSTNAME": "node-a"},
            network_mode="host",
            volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"}},
            detach=True,
        )
        started.append(watcher)
        wait(lambda: b"watching the recording containers" in watcher.logs(), 60, "the watcher")
        recorder = docker_engine.containers.run(
            image,
            entrypoint=["sleep", "300"],
            name=f"recording_{session_id}",
            environment={"VIDEO_ID": session_id},
            network_mode="host",
            detach=True,
        )
        started.append(recorder)
        assert (
            http.post(f"{stack.url}/api/sessions", json=register_body(session_id), timeout=10).status_code
            == 201
        )
        beat = {"lastChunk": "0001.mp4", "epoch": 1}
        assert http.put(f"{stack.url}/api/sessions/{session_id}/heartbeat", json=beat, timeout=10).ok
        killed_at = time.monotonic()
        recorder.kill()
        session = wait(
            lambda: (
                (s := http.get(f"{stack.url}/api/sessions/{session_id}", timeout=10).json())["failovers"]
                and s
            ),
            25,
            "the takeover's claim",
            every=0.05,
        )
        claimed_s = time.monotonic() - killed_at
        assert session["failovers"][0]["reason"] == "recorder-exited", session["failovers"]
        assert (session["epoch"], session["failovers"][0]["startChunk"]) == (2, "0002")
        assert claimed_s < 10, f"claimed {claimed_s:.1f} s after the kill"  # the heartbeat timeout is 30 s
        node = http.get(f"{stack.url}/api/hosts/node-a", timeout=10).json()
        assert node["watcherSeenAt"], node  # the watcher beats for its node too
        print(f"watcher: container killed to takeover claimed in {claimed_s:.2f} s")
    finally:
        for container in started:
            container.remove(force=True)
        stop_stack(stack)
