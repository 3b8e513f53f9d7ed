"""The drill's own local stack: `python -m local up` (moto included) on free ports, its media
node's folder, and a customer's endpoint on localhost (`Receiver`)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests

from hacore.launchers.process import kill_recorded
from local import ROOT
from local.receiver import Receiver
from local.runtime import free_port, wait_until_serving

USER, PASSWORD = "drill", "drill-password"
BUCKET = "ovha-local-recordingsbucket"
# The controller's settings a drill takes from its environment: the modelled cold start, the pool,
# the storm guard (APP_STORM_MIN_SESSIONS=10000 turns it off, to see what it prevents).
DRILL_SETTINGS = frozenset(
    {
        "APP_PROCESS_LAUNCH_DELAY",
        "APP_STANDBY_POOL_SIZE",
        "APP_STORM_SHARE",
        "APP_STORM_MIN_SESSIONS",
        "APP_STORM_MIN_HOSTS",
    }
)


@dataclass
class DrillStack:
    url: str
    aws: str
    process: subprocess.Popen[bytes]
    state: Path
    timing: dict[str, Any]
    recordings: Path
    customer: Receiver
    runtime: str = "process"  # docker: recorders are containers of the image, primaries and backups

    @property
    def auth(self) -> tuple[str, str]:
        return USER, PASSWORD

    def client(self, service: str) -> Any:
        """A boto3 client of the stack's embedded moto (its dummy credentials)."""
        return boto3.client(
            service,
            endpoint_url=self.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
        )


def start_stack(
    workdir: Path, timing: str, settings: dict[str, str] | None = None, runtime: str = "process"
) -> DrillStack:
    """`settings`: the controller's, over the environment's (a pool size, a modelled cold start).
    `runtime` docker: backups are containers of the recorder image, every recorder on a real browser."""
    if runtime == "docker":
        settings = {"APP_FAILOVER_LAUNCHER": "docker", "RECORDER_SOURCE": "openvidu"} | (settings or {})
    port, moto = free_port(), free_port()
    state = workdir / "backups"
    recordings = workdir / "recordings"
    customer = Receiver(free_port())
    customer.up()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT", "HA_CONTROLLER_", "APP_")) or k in DRILL_SETTINGS
    }
    env |= {
        "PORT": str(port),
        "MOTO_PORT": str(moto),
        "HA_CONTROLLER_USERNAME": USER,
        "HA_CONTROLLER_PASSWORD": PASSWORD,
        "HA_TIMING": timing,
        "APP_PROCESS_STATE_DIR": str(state),
        "RECORDINGS_PATH": str(recordings),
        "OPENVIDU_WEBHOOK_ENDPOINT": customer.url,
        "PYTHONUNBUFFERED": "1",
    } | (settings or {})
    env.pop("OPENVIDU_WEBHOOK_INBOUND_TOKEN", None)
    log = (workdir / "stack.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "up"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_serving(url, process)
    status = requests.get(f"{url}/api/failover/status", auth=(USER, PASSWORD), timeout=10).json()
    return DrillStack(url, f"http://127.0.0.1:{moto}", process, state, status, recordings, customer, runtime)


def stop_stack(stack: DrillStack) -> None:
    kill_recorded(stack.state)  # backups outlive a controller by design; not a drill's
    with contextlib.suppress(ProcessLookupError):
        os.killpg(stack.process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        stack.process.wait(timeout=15)
    stack.customer.down()
