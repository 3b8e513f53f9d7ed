"""The capture stack OpenVidu's recorder runs, owned by the agent: the X server, PulseAudio, and
the browser on the layout `URL` (ffmpeg is `capture.py`'s). Each piece is started, watched and
restarted in place when it dies, with backoff and a limit, as ffmpeg is.

The rule it keeps: a recording never goes on as a black or frozen screen while the agent
heartbeats as if all were well (OpenVidu/openvidu issue 252). The page is watched three ways:
the browser process, the page's renderer process (a crashed renderer leaves a "sad tab"),
and the picture itself (ffmpeg's `freezedetect` on what is captured, `on_frozen`). A page is
reloaded first; the browser restarted if that does not help; a picture that stays still
after both (a truly still layout) is left alone and reported, less and less often, never
looped on. ffmpeg is not restarted while the display lives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from recorder.config import AgentConfig
from recorder.ports import free_port
from recorder.supervisor import Component, GaveUp, descendants

log = logging.getLogger("recorder.stack")
BROWSER_NAMES = frozenset({"chromium", "chrome", "google-chrome", "chromium-browser"})
DEVTOOLS_TIMEOUT_S = 2.0
STILL_REPORT_MAX_S = 600.0
PAGE_START_S = 10.0
PAGE_SETTLE_S = 1.0  # from the renderer's start to a drawn page
# OpenVidu's own flags for the recording browser (its composed.sh), plus what lets the agent
# watch and steer the page: the DevTools port, and one renderer process for the page.
BROWSER_FLAGS = (
    "--kiosk",
    "--start-maximized",
    "--test-type",
    "--no-sandbox",
    "--disable-infobars",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--autoplay-policy=no-user-gesture-required",
    "--window-position=0,0",
    "--no-first-run",
    "--no-default-browser-check",
    "--renderer-process-limit=1",
    # Xvfb has no window manager: without these the page can be judged hidden and throttled
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
)


class StackBroken(GaveUp):
    """A piece of the stack keeps dying: the recorder gives up and the controller's takeover decides."""


@dataclass
class FreezeState:
    """Still spans (wall clock, as freezedetect dated them) and what was done about the current one,
    so that a truly still layout is reported, not looped on."""

    spans: list[dict[str, float | None]] = field(default_factory=list)
    actions: int = 0  # 1: reloaded, 2: browser restarted, then only reported, less and less often
    next_action_at: float = 0.0  # monotonic

    @property
    def still(self) -> bool:
        return bool(self.spans) and self.spans[-1]["end"] is None

    def seconds(self, now: float) -> float:
        return sum((span["end"] or now) - (span["start"] or now) for span in self.spans)


class CaptureStack:
    """X display, PulseAudio and the browser, for `RECORDER_SOURCE=openvidu`."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.folder = config.work_dir / "stack"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.display = free_display(config.display)
        self.pulse_dir = self.folder / "pulse"
        self.env = {
            **os.environ,
            "DISPLAY": self.display,
            "PULSE_RUNTIME_PATH": str(self.pulse_dir),
            "PULSE_SERVER": f"unix:{self.pulse_dir / 'native'}",
        }
        limit = config.stack_max_restarts
        self.components = {n: Component(n, limit, StackBroken) for n in ("display", "audio", "browser")}
        self.page_reloads = 0
        self.devtools_port = free_port()
        self.freeze = FreezeState()
        self._page_renderer_seen = False

    # --- start ------------------------------------------------------------------

    def start(self) -> None:
        """Display, sound, browser; returns once the page renders (at most PAGE_START_S), so that the
        recording does not open on a blank window (OpenVidu's image waits for Chrome the same way)."""
        self._start_display()
        if not self.config.only_video:
            self._start_audio()
        self._start_browser()
        deadline = time.monotonic() + PAGE_START_S
        while not self.page_renderers() and time.monotonic() < deadline and self.components["browser"].alive:
            time.sleep(0.1)
        time.sleep(PAGE_SETTLE_S)

    def _start_display(self) -> None:
        width, height = self.config.resolution.split("x")
        command = ["Xvfb", self.display, "-screen", "0", f"{width}x{height}x24", "-ac", "-nolisten", "tcp"]
        self.components["display"].launch(command, self.folder / "xvfb.log", self.env)
        x_socket = Path(f"/tmp/.X11-unix/X{self.display.lstrip(':')}")  # noqa: S108 - X11's own path
        deadline = time.monotonic() + 5
        while not x_socket.exists() and time.monotonic() < deadline and self.components["display"].alive:
            time.sleep(0.05)

    def _start_audio(self) -> None:
        """PulseAudio with a null sink as the default: the browser plays into it, ffmpeg records
        its monitor (the default source)."""
        self.pulse_dir.mkdir(parents=True, exist_ok=True)
        command = [
            "pulseaudio",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--system=false",
            "-n",
            "--load=module-native-protocol-unix",
            "--load=module-null-sink sink_name=recorder",
            "--load=module-always-sink",
        ]
        self.components["audio"].launch(command, self.folder / "pulse.log", self.env)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.components["audio"].alive:
            if self._pactl("set-default-sink", "recorder"):
                self._pactl("set-default-source", "recorder.monitor")
                return
            time.sleep(0.1)

    def _pactl(self, *arguments: str) -> bool:
        try:
            done = subprocess.run(["pactl", *arguments], env=self.env, capture_output=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired) as error:
            log.warning("pactl %s: %s", arguments[0], error)
            return False
        return done.returncode == 0

    def _start_browser(self) -> None:
        width, height = self.config.resolution.split("x")
        command = [
            browser_binary(self.config.browser),
            *BROWSER_FLAGS,
            f"--window-size={width},{height}",
            f"--user-data-dir={self.folder / 'browser-profile'}",
            f"--remote-debugging-port={self.devtools_port}",
            self.config.url or "about:blank",
        ]
        self.components["browser"].launch(command, self.folder / "browser.log", self.env)
        self._page_renderer_seen = False

    @property
    def started(self) -> bool:
        return self.components["display"].alive

    def fits(self, config: AgentConfig) -> bool:
        """Whether a warm stack (a standby's) can capture this recording: the screen is the size."""
        return config.source == "openvidu" and config.resolution == self.config.resolution

    def take_over(self, config: AgentConfig) -> None:
        """A standby's warm stack becomes this recording's: the idle browser opens the layout URL."""
        self.config = config
        self.reload_page()
        self.page_reloads = 0  # opening the session's page is no repair
        deadline = time.monotonic() + PAGE_START_S
        while not self.page_renderers() and time.monotonic() < deadline and self.components["browser"].alive:
            time.sleep(0.1)

    # --- watch ------------------------------------------------------------------

    def check(self) -> None:
        """One look at every piece (the agent calls it about once a second)."""
        display, audio, browser = (self.components[n] for n in ("display", "audio", "browser"))
        now = time.monotonic()
        if not display.alive:
            if now >= display.next_start_at:
                display.count_restart("the X server exited")
                browser.kill()
                self._start_display()
                self._start_browser()
            return
        if not self.config.only_video and not audio.alive and now >= audio.next_start_at:
            audio.count_restart("PulseAudio exited")
            self._start_audio()
        if not browser.alive:
            if now >= browser.next_start_at:
                browser.count_restart("the browser exited")
                self._start_browser()
            return
        if self.page_renderers():
            self._page_renderer_seen = True
        elif self._page_renderer_seen:
            log.warning("the page's renderer is gone (a crashed tab): reloading the page")
            self.reload_page()
        if self.freeze.still and now >= self.freeze.next_action_at:
            self._act_on_freeze(now)

    def on_frozen(self, started: bool, wallclock: float) -> None:
        """ffmpeg's freezedetect saw the picture go still (`started`, dated when it stopped
        changing, reported CAPTURE_FROZEN_SECONDS later) or move again."""
        if started and not self.freeze.still:
            self.freeze.spans.append({"start": wallclock, "end": None})
            self.freeze.actions = 0
            self.freeze.next_action_at = time.monotonic()
        elif not started and self.freeze.still:
            self.freeze.spans[-1]["end"] = wallclock
            log.info("the picture moves again")

    def _act_on_freeze(self, now: float) -> None:
        self.freeze.actions += 1
        wait = self.config.frozen_seconds
        if self.freeze.actions == 1:
            log.warning("the picture has been still for %gs: reloading the page", self.config.frozen_seconds)
            self.reload_page()
        elif self.freeze.actions == 2:
            self.components["browser"].count_restart("the picture stayed still after a reload")
            self.components["browser"].kill()
            self._start_browser()
        else:
            wait = min(STILL_REPORT_MAX_S, self.config.frozen_seconds * 2 ** (self.freeze.actions - 2))
            log.warning(
                "the picture stays still after a reload and a browser restart (a still layout?): "
                "reported; next look in %.0fs",
                wait,
            )
        self.freeze.next_action_at = now + wait

    # --- the page ---------------------------------------------------------------

    def reload_page(self) -> None:
        """A new tab on URL, then the old one closed (DevTools' HTTP endpoints: no websocket needed).
        A browser that does not answer is restarted instead."""
        url = self.config.url or "about:blank"
        try:
            pages = [t for t in self._devtools("json/list") if t.get("type") == "page"]
            self._devtools(f"json/new?{url}", method="PUT")
            for page in pages:
                self._devtools(f"json/close/{page['id']}", parse=False)
        except (OSError, ValueError) as error:
            # Usually the browser itself died a moment ago (its renderers go first): a browser restart.
            self.components["browser"].count_restart(f"DevTools did not answer a reload ({error})")
            self.components["browser"].kill()
            self._start_browser()
            return
        self.page_reloads += 1
        self._page_renderer_seen = False

    def _devtools(self, path: str, method: str = "GET", parse: bool = True) -> list[dict[str, str]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.devtools_port}/{path}", method=method)
        with urllib.request.urlopen(request, timeout=DEVTOOLS_TIMEOUT_S) as reply:  # noqa: S310 - localhost
            body = reply.read()
        if not parse:
            return []
        parsed = json.loads(body)
        return parsed if isinstance(parsed, list) else [parsed]

    def page_renderers(self) -> list[int]:
        browser = self.components["browser"].process
        return page_renderer_pids(browser.pid) if browser is not None else []

    # --- report and stop --------------------------------------------------------

    def health(self) -> dict[str, object]:
        """What heartbeats carry: restarts per piece (page: reloads), seconds of still picture."""
        return {
            "restarts": {n: c.restarts for n, c in self.components.items()} | {"page": self.page_reloads},
            "frozenSeconds": round(self.freeze.seconds(time.time()), 1),
            "stillNow": self.freeze.still,
        }

    def stop(self) -> None:
        for name in ("browser", "audio", "display"):
            self.components[name].kill()


def browser_binary(setting: str) -> str:
    if setting != "auto":
        return shutil.which(setting) or setting
    for candidate in ("google-chrome", "google-chrome-stable", "chromium", "chromium-browser"):
        if shutil.which(candidate):
            return candidate
    return "google-chrome"


def page_renderer_pids(root: int) -> list[int]:
    """The renderer processes for pages below `root` (not the browser's own UI, nor extensions')."""
    found = []
    for pid, args in _descendant_arguments(root):
        ui = any(a.startswith(b"--top-chrome-webui") or a == b"--extension-process" for a in args)
        if b"--type=renderer" in args and not ui:
            found.append(pid)
    return found


def browser_pids(root: int) -> list[int]:
    """The browser's main process(es) below `root`: Chrome processes without a `--type`."""
    found = []
    for pid, args in _descendant_arguments(root):
        name = Path(args[0].decode(errors="replace")).name if args else ""
        if name in BROWSER_NAMES and not any(a.startswith(b"--type=") for a in args):
            found.append(pid)  # not its crashpad handler, which has no --type either
    return found


def _descendant_arguments(root: int) -> list[tuple[int, list[bytes]]]:
    """Each process below `root` with its arguments (those that exit meanwhile are left out).
    Zygote children rewrite their title as one string with spaces: split on both."""
    found = []
    for pid in descendants(root):
        try:
            found.append((pid, Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()))
        except OSError:
            continue
    return found


def abstract_displays() -> set[int]:
    """Displays whose X server listens on an abstract socket in this network namespace. A recorder
    container runs with network `host`, as OpenVidu runs it: its /tmp is its own, but these are
    the host's, so two recorders on one media node see each other's X servers only here."""
    try:
        table = Path("/proc/net/unix").read_text()
    except OSError:
        return set()
    return {int(n) for n in re.findall(r"@/tmp/\.X11-unix/X(\d+)", table)}


def free_display(preferred: str) -> str:
    """The preferred display if nothing holds it, else the next free one (several recorders on one
    machine: a primary and a local backup, or containers on one media node). A lock left by a
    killed X server is taken back."""
    number = int(preferred.lstrip(":").split(".")[0] or 99)
    listening = abstract_displays()
    while True:
        lock = Path(f"/tmp/.X{number}-lock")  # noqa: S108 - X11's own paths
        x_socket = Path(f"/tmp/.X11-unix/X{number}")  # noqa: S108
        if number in listening:
            number += 1
            continue
        if not lock.exists() and not x_socket.exists():
            return f":{number}"
        try:
            holder = int(lock.read_text().strip())
        except (OSError, ValueError):
            holder = 0
        if holder and not Path(f"/proc/{holder}").exists():  # stale: its X server is gone
            lock.unlink(missing_ok=True)
            x_socket.unlink(missing_ok=True)
            return f":{number}"
        number += 1
