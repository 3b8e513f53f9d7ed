"""Failover in the local stack: the scheduled detector, a real backup process, fencing, stopping it."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from hacore.launchers.process import kill_recorded
from local.drill.probes import wait
from tests.helpers import register_body
from tests.integration.conftest import RunningStack, start_stack, stop_stack

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def fast_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("failover")
    state = tmp / "backups"
    running = start_stack(
        tmp,
        {
            "HA_TIMING": "fast",
            "APP_PROCESS_STATE_DIR": str(state),
            "APP_PROCESS_BACKUP_COMMAND": f"{sys.executable} {HERE / 'heartbeat_backup.py'}",
        },
    )
    yield running
    stop_stack(running)
    kill_recorded(state)


def wait_for(check, seconds: float = 40):
    return wait(check, seconds, "the condition", every=0.25)


def test_a_silent_recorder_is_replaced_by_a_real_backup_process(fast_stack: RunningStack) -> None:
    http = requests.Session()
    http.auth = fast_stack.auth
    url = fast_stack.url
    status = http.get(f"{url}/api/failover/status").json()
    assert (status["heartbeatTimeoutSeconds"], status["checkIntervalMs"]) == (
        6,
        2000,
    )  # HA_TIMING=fast applies
    sid = "failover_it"
    assert http.post(f"{url}/api/sessions", json=register_body(sid)).status_code == 201
    for n in range(3):
        assert http.put(
            f"{url}/api/sessions/{sid}/heartbeat", json={"epoch": 1, "lastChunk": f"{n:04d}.mp4"}
        ).ok
        time.sleep(1)
    # The primary dies here: no more heartbeats. The detector (on its schedule) must take over.
    session = wait_for(
        lambda: (
            (s := http.get(f"{url}/api/sessions/{sid}").json())["status"] == "RECORDING"
            and s["epoch"] == 2
            and s
        )
    )
    (failover,) = session["failovers"]
    assert (failover["reason"], failover["startChunk"], failover["outcome"]) == (
        "heartbeat-timeout",
        "0003",
        "running",
    )
    assert session["lastChunk"] >= "0003.mp4"  # the backup's chunks

    zombie = http.put(f"{url}/api/sessions/{sid}/heartbeat", json={"epoch": 1, "lastChunk": "0099.mp4"})
    assert zombie.status_code == 409
    assert zombie.json()["currentEpoch"] == 2

    backups = http.get(f"{url}/api/failover/backups").json()["backups"]
    (backup,) = [b for b in backups if b["sessionId"] == sid]
    assert (backup["epoch"], backup["startChunk"], backup["launcher"]) == (2, "0003", "process")
    pid = backup["detail"]["pid"]
    os.kill(pid, 0)

    stopped = http.delete(f"{url}/api/failover/backup/{sid}")
    assert stopped.status_code == 200
    wait_for(
        lambda: all(b["sessionId"] != sid for b in http.get(f"{url}/api/failover/backups").json()["backups"])
    )
    wait_for(lambda: process_gone(pid), seconds=10)


def process_gone(pid: int) -> bool:
    """Exited and collected, or at least exited (a zombie is a dead process awaiting its parent)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_stopping_the_stack_stops_the_backups_it_started(tmp_path: Path) -> None:
    """The backups' sessions live in the stack's moto: when the stack goes, its backups go too."""
    running = start_stack(
        tmp_path,
        {
            "DETECTOR_SCHEDULE_SECONDS": "3600",
            "APP_PROCESS_BACKUP_COMMAND": f"{sys.executable} {HERE / 'heartbeat_backup.py'}",
        },
    )
    try:
        http = requests.Session()
        http.auth = running.auth
        sid = "outlived"
        assert http.post(f"{running.url}/api/sessions", json=register_body(sid)).status_code == 201
        assert http.post(f"{running.url}/api/failover/{sid}").status_code == 202  # manual takeover
        (backup,) = http.get(f"{running.url}/api/failover/backups").json()["backups"]
        pid = backup["detail"]["pid"]
        os.kill(pid, 0)
    finally:
        stop_stack(running)
    wait_for(lambda: process_gone(pid), seconds=15)
    assert "stopped 1 backup recorder(s) of this stack" in running.output()
