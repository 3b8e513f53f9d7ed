"""How the recorder runs its child processes (the X server, PulseAudio, the browser, ffmpeg): each
dies with the agent, and one that keeps dying is restarted with backoff up to a limit.

The rule it keeps: a killed recorder (or container) never leaves an X server, a browser or an
ffmpeg behind. The kernel kills every child when the agent dies, even by SIGKILL
(PR_SET_PDEATHSIG), and `kill` takes a process with everything below it. `backoff` is the one
waiting rule: 0.5 s doubling to a cap, with jitter where many recorders wait at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("recorder.supervisor")
PR_SET_PDEATHSIG = 1
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 8.0


def backoff(failures: int, cap: float = BACKOFF_MAX_S, jitter: bool = False) -> float:
    """The wait after the `failures`-th failure in a row: 0.5 s, doubling, at most `cap`; with
    jitter, a random half to all of it (a fleet that fails together does not retry together)."""
    if failures <= 0:
        return 0.0
    wait = min(cap, BACKOFF_FIRST_S * 2 ** (failures - 1))
    return wait * random.uniform(0.5, 1.0) if jitter else wait


def die_with_parent() -> None:
    """Run in the child before exec: the kernel sends it SIGKILL when the agent dies, even by SIGKILL."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    command: list[str], output: IO[Any] | int, env: dict[str, str] | None, stdin: int = subprocess.DEVNULL
) -> subprocess.Popen[bytes]:
    """A child in the agent's process group that the kernel kills if the agent dies."""
    return subprocess.Popen(
        command,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=stdin,
        env=env,
        preexec_fn=die_with_parent,
    )


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren...), from /proc."""
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            found.append(int(child))
            frontier.append(int(child))
    return found


class GaveUp(RuntimeError):
    """A supervised process kept dying: its owner gives up (and the controller's takeover decides)."""


@dataclass
class Component:
    """One supervised process: restarted when it dies, waiting longer each time, up to a limit."""

    name: str
    max_restarts: int
    broken: type[Exception] = GaveUp
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start_at: float = 0.0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self, command: list[str], log_file: Path, env: dict[str, str]) -> None:
        """A piece that cannot even be started (its program missing) counts as one that died."""
        with log_file.open("ab") as output:
            try:
                self.process = spawn(command, output, env)
            except OSError as error:
                log.error("%s could not be started (%s): %s", self.name, command[0], error)
                self.process = None

    def kill(self) -> None:
        """The process and everything below it (a browser's zygote and renderers)."""
        if self.process is not None and self.process.poll() is None:
            for pid in [*descendants(self.process.pid), self.process.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def count_restart(self, reason: str) -> None:
        self.restarts += 1
        if self.restarts > self.max_restarts:
            raise self.broken(f"{self.name} failed {self.restarts} times ({reason})")
        self.next_start_at = time.monotonic() + backoff(self.restarts)
        log.warning("%s: %s; restart %d", self.name, reason, self.restarts)
