"""Starts the local stack the way `make up` does (`python -m local up`) and talks to it over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from moto import mock_aws

from local.receiver import Receiver
from local.runtime import ORIGINAL_PASSWORD, ORIGINAL_USERNAME, free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    url: str
    process: subprocess.Popen[str]
    log: Path

    @property
    def auth(self) -> tuple[str, str]:
        return ORIGINAL_USERNAME, ORIGINAL_PASSWORD

    def output(self) -> str:
        return self.log.read_text()


def start_stack(tmp: Path, extra_env: dict[str, str] | None = None) -> RunningStack:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HA_CONTROLLER_", "AWS_ENDPOINT"))}
    env.update({"PORT": str(port), "PYTHONUNBUFFERED": "1"}, **(extra_env or {}))
    log = tmp / f"stack-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "local", "up"],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, process)
    except RuntimeError as error:
        raise RuntimeError(f"{error}:\n{log.read_text()}") from error
    return RunningStack(url, process, log)


def stop_stack(stack: RunningStack) -> None:
    stack.process.terminate()
    try:
        stack.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        stack.process.kill()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    running = start_stack(tmp_path_factory.mktemp("stack"))
    yield running
    stop_stack(running)


@pytest.fixture
def http(stack: RunningStack) -> requests.Session:
    session = requests.Session()
    session.auth = stack.auth
    return session


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on localhost, for one test (the webhook tests' customer endpoint)."""
    running = Receiver(free_port())
    running.up()
    yield running
    running.down()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process, for one test."""
    with mock_aws():
        yield
