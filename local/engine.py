"""The Docker engine the image, the Docker runtime and the Docker launcher need, started here only if
none answers, and stopped only by whoever started it.

The rule: an engine this project did not start is never stopped by it. One it starts (as root,
`dockerd --iptables=false`: recording containers use the host network, as OpenVidu runs them; the
default bridge is for `sam local invoke`, whose containers SAM reaches through a published port;
where the bridge cannot be made, `--bridge=none` as well) leaves its pid in
`.local-data/dockerd.pid`; `stop` stops only that.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from local import ROOT

PID_FILE = ROOT / ".local-data" / "dockerd.pid"
LOG_FILE = ROOT / ".local-data" / "dockerd.log"
START_TIMEOUT_S = 60.0
FLAGS = (["--iptables=false"], ["--bridge=none", "--iptables=false"])  # the first that starts
_started: subprocess.Popen[bytes] | None = None  # the engine this process started, to wait on


class NoEngine(RuntimeError):
    """No engine answers and none can be started here: the reason says why."""


def client(timeout: int = 10) -> Any:
    import docker

    return docker.from_env(timeout=timeout)


def answers() -> bool:
    try:
        client(timeout=3).ping()
    except Exception:
        return False
    return True


def why_not() -> str | None:
    """None if an engine answers or can be started here; else the reason, for a test's skip."""
    if answers():
        return None
    if shutil.which("dockerd") is None:
        return "no Docker engine answers and dockerd is not installed (Debian's docker.io)"
    if os.geteuid() != 0:
        return "no Docker engine answers and only root can start dockerd"
    return None


def start() -> bool:
    """An engine that answers; True if this call started it."""
    if answers():
        return False
    reason = why_not()
    if reason:
        raise NoEngine(reason)
    failures = []
    for flags in FLAGS:
        try:
            _start(flags)
            return True
        except NoEngine as error:
            failures.append(f"dockerd {' '.join(flags)}: {error}")
    raise NoEngine("; ".join(failures))


def _start(flags: list[str]) -> None:
    global _started
    PID_FILE.parent.mkdir(parents=True, exist_ok=True)
    with LOG_FILE.open("ab") as log:
        process = subprocess.Popen(
            ["dockerd", *flags],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # not in the caller's process group: a ^C there is not its stop
        )
    _started = process
    PID_FILE.write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            PID_FILE.unlink(missing_ok=True)
            raise NoEngine(f"exited with {process.returncode} (see {LOG_FILE})")
        if answers():
            return
        time.sleep(0.5)
    stop()
    raise NoEngine(f"did not answer within {START_TIMEOUT_S:.0f} s (see {LOG_FILE})")


def stop() -> bool:
    """Stops the engine this project started (its pid file says which); True if one was stopped."""
    try:
        pid = int(PID_FILE.read_text())
    except (OSError, ValueError):
        return False
    if _started is not None and _started.pid == pid:  # our child: wait on it (no zombie to poll)
        _started.terminate()
        try:
            _started.wait(timeout=30)
        except subprocess.TimeoutExpired:
            _started.kill()
            _started.wait(timeout=10)
        PID_FILE.unlink(missing_ok=True)
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            os.kill(pid, 0)
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def running() -> Iterator[bool]:
    """An engine for the block; stopped after it only if the block's start started it."""
    started = start()
    try:
        yield started
    finally:
        if started:
            stop()
