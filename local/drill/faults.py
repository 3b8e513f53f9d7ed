"""Every fault a drill can inject, in one registry: what it does, what OpenVidu concludes about
its own container afterwards (it judges the container a takeover replaced), and what follows
(a takeover, a second one, a real browser). `python -m local drill --mode` offers these names.

The single-recorder faults strike one recorder (`inject`); the control-plane faults strike a
fleet of recorders on emulated media nodes (`local.drill.fleet`).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from recorder.stack import browser_pids, page_renderer_pids


class Target(Protocol):
    """What a fault strikes: the recorder OpenVidu started, through the emulator."""

    def kill_primary(self) -> None: ...

    def freeze_page(self) -> None: ...

    def hand_over(self) -> None: ...


Inject = Callable[[Target, int], None]  # (the target, the primary's pid)


@dataclass(frozen=True)
class Fault:
    name: str
    what: str
    openvidu_expects: str | None = None  # ready | failed; None: judged per recording (fleet)
    inject: Inject | None = None
    takeover: bool = False  # a backup takes the recording over
    second_takeover: bool = False  # ...and, killed in turn, another one
    browser: bool = False  # needs the real capture stack (a browser on the test page)
    resume: bool = False  # the struck recorder is resumed later (it must then stop itself)
    watcher: bool = False  # the media node's watcher runs (containers only): it reports the death
    handover: str | None = None  # planned, make-before-break (its reason); the old recorder stops itself
    node: bool = False  # several recordings on one media node, drained (`local.drill.drain`)
    rotates: bool = False  # the stack hands a recorder over at APP_MAX_RECORDER_AGE
    redundant: bool = False  # APP_REDUNDANT_RECORDING: a shadow records from the start, promoted
    fleet: bool = False


def child_ffmpeg(agent_pid: int) -> int:
    children = Path(f"/proc/{agent_pid}/task/{agent_pid}/children").read_text().split()
    for child in children:
        if Path(f"/proc/{child}/comm").read_text().strip() == "ffmpeg":
            return int(child)
    raise RuntimeError("the recorder has no ffmpeg child")


def _kill(target: Target, primary: int) -> None:
    target.kill_primary()


def _ffmpeg(sig: signal.Signals) -> Inject:
    return lambda target, primary: os.kill(child_ffmpeg(primary), sig)


def _stop_all(target: Target, primary: int) -> None:
    os.killpg(primary, signal.SIGSTOP)


def _browser(target: Target, primary: int) -> None:
    os.kill(browser_pids(primary)[0], signal.SIGKILL)


def _renderer(target: Target, primary: int) -> None:
    os.kill(page_renderer_pids(primary)[0], signal.SIGKILL)


def _freeze(target: Target, primary: int) -> None:
    target.freeze_page()


def _hand_over(target: Target, primary: int) -> None:
    target.hand_over()


FAULTS: dict[str, Fault] = {
    fault.name: fault
    for fault in (
        Fault("kill", "the whole recorder killed (the default)", "failed", _kill, takeover=True),
        Fault(
            "watcher-kill",
            "the recorder's container killed, the media node's watcher reports it (--runtime docker)",
            "failed",
            _kill,
            takeover=True,
            watcher=True,
        ),
        Fault(
            "handover",
            "a planned handover (POST .../handover): make-before-break, no gap, nothing twice",
            "failed",  # its container fenced off before its `q`: OpenVidu judges it so
            _hand_over,
            handover="handover",
        ),
        Fault(
            "drain",
            "three recordings on one node; its Spot warning, put on EventBridge, drains it",
            "failed",
            handover="drain",
            node=True,
        ),
        Fault(
            "rotate",
            "the recorder reaches APP_MAX_RECORDER_AGE (4.5 chunks here): handed over, no gap",
            "failed",
            handover="rotation",
            rotates=True,
        ),
        Fault(
            "redundant-kill",
            "recorded twice (APP_REDUNDANT_RECORDING): the recorder killed, its shadow promoted",
            "failed",
            _kill,
            redundant=True,
        ),
        Fault(
            "backup-kill",
            "the recorder, then its backup: the platform's stopped-task event takes over at once",
            "failed",
            _kill,
            takeover=True,
            second_takeover=True,
        ),
        Fault("ffmpeg", "only ffmpeg killed: the agent heals in place", "ready", _ffmpeg(signal.SIGKILL)),
        Fault("hang", "ffmpeg SIGSTOPped: the agent sees it stall", "ready", _ffmpeg(signal.SIGSTOP)),
        Fault(
            "zombie",
            "the recorder SIGSTOPped, replaced, then SIGCONTed: it must stop itself",
            "failed",
            _stop_all,
            takeover=True,
            resume=True,
        ),
        Fault("none", "no fault: OpenVidu concludes ready", "ready"),
        Fault("browser", "the browser killed (a real Chromium)", "ready", _browser, browser=True),
        Fault("renderer", "the page's renderer killed (a sad tab)", "ready", _renderer, browser=True),
        Fault("freeze", "the page hangs (a still picture)", "ready", _freeze, browser=True),
        Fault("api-outage", "every node's controller traffic refused: the storm guard holds", fleet=True),
        Fault("partition", "one recorder cut from the controller, not from S3: S3 vouches", fleet=True),
        Fault("partition-pair", "two recorders on one node cut off the same way", fleet=True),
        Fault("node-loss", "all three recorders of one node killed, three on another live on", fleet=True),
    )
}
