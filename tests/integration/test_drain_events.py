"""A media node's end, replayed through the local stack's EventBridge (`python -m local events put`,
moto's bus, the template's rules): Spot's warning and Auto Scaling's lifecycle action drain the
node, make-before-break; its recorders keep beating until their handovers complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hacore.launchers.process import kill_recorded
from local.drill.probes import wait
from tests.helpers import register_body
from tests.integration.conftest import ROOT, RunningStack, start_stack, stop_stack

HERE = Path(__file__).resolve().parent
EVENTS = ROOT / "events"
NODE = "i-0b1c2d3e4f5a6b7c8"  # the instance the sample events name


@pytest.fixture(scope="module")
def node_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, Path]]:
    tmp = tmp_path_factory.mktemp("drain")
    state, recordings = tmp / "backups", tmp / "recordings"
    running = start_stack(
        tmp,
        {
            "HA_TIMING": "fast",
            "RECORDINGS_PATH": str(recordings),
            "APP_PROCESS_STATE_DIR": str(state),
            "APP_PROCESS_BACKUP_COMMAND": f"{sys.executable} {HERE / 'heartbeat_backup.py'}",
        },
    )
    yield running, recordings
    stop_stack(running)
    kill_recorded(state)


class Primaries:
    """The node's recorders: each beats as its own epoch until the controller says 409 (fenced)."""

    def __init__(self, stack: RunningStack, ids: list[str]) -> None:
        self.http = requests.Session()
        self.http.auth = stack.auth
        self.url = stack.url
        self.ids = ids
        self.fenced: set[str] = set()
        self.stop = threading.Event()
        for sid in ids:
            body = register_body(sid, clientHost="media-node-7", instanceId=NODE)
            assert self.http.post(f"{self.url}/api/sessions", json=body, timeout=10).status_code == 201
        self.thread = threading.Thread(target=self.beat, daemon=True)
        self.thread.start()

    def beat(self) -> None:
        chunk = 0
        while not self.stop.wait(1):
            for sid in set(self.ids) - self.fenced:
                beat = {"epoch": 1, "lastChunk": f"{chunk:04d}.mp4"}
                reply = self.http.put(f"{self.url}/api/sessions/{sid}/heartbeat", json=beat, timeout=10)
                if reply.status_code == 409:
                    self.fenced.add(sid)
            chunk += 1


def put(recordings: Path, name: str) -> None:
    env = os.environ | {"RECORDINGS_PATH": str(recordings)}
    out = subprocess.run(
        [sys.executable, "-m", "local", "events", "put", str(EVENTS / f"{name}.json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout)["id"]


@pytest.mark.parametrize("event", ["spot-interruption", "instance-terminate-lifecycle"])
def test_a_replayed_event_drains_the_node_make_before_break(
    node_stack: tuple[RunningStack, Path], event: str
) -> None:
    stack, recordings = node_stack
    ids = [f"drain_{event[:4]}_{n}_{time.monotonic_ns() % 10**6}" for n in range(3)]
    primaries = Primaries(stack, ids)
    try:
        time.sleep(1.5)  # RECORDING: a chunk each
        put(recordings, event)
        http = primaries.http
        wait(  # empty, and the drain over (the sweep after the last handover ends it): the node may go
            lambda: (
                (h := http.get(f"{stack.url}/api/hosts/{NODE}", timeout=10).json())["empty"]
                and not h["draining"]
            ),
            60,
            "the node to be drained",
            every=0.25,
        )
        for sid in ids:
            session = http.get(f"{stack.url}/api/sessions/{sid}", timeout=10).json()
            handover = session["failovers"][-1]
            assert (handover["reason"], handover["outcome"], session["epoch"]) == ("drain", "running", 2)
            assert session["status"] == "RECORDING"
        wait(lambda: primaries.fenced == set(ids), 30, "the old recorders to be fenced", every=0.25)
    finally:
        primaries.stop.set()
        for sid in ids:
            requests.delete(f"{stack.url}/api/sessions/{sid}", auth=stack.auth, timeout=10)
    log = stack.output()
    assert "is drained" in log
    if event == "instance-terminate-lifecycle":  # completed (the embedded moto's Auto Scaling)
        assert f"completed the lifecycle action of {NODE}" in log, log[-3000:]
