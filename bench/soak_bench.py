"""Soak: many simulated recorders against the local stack, some killed at random moments.

Each simulated recorder is a heartbeat-only client (no media): it registers from one of ten
hosts, heartbeats every interval with the next chunk number, and retries a failed heartbeat
with the recorder's own backoff (`recorder.controller.retry_delay`). A killed one stops
heartbeating. What counts:

* false takeovers: a session taken over that was never killed (or before it was killed);
* every killed one taken over;
* heartbeat latency through the local gateway (p50, p95, p99);
* how often the storm guard engaged and held takeovers (a stack too busy to hear its recorders in time
  should hold, not take them over).

`soak` runs N recorders (default 300) at the default timing for five minutes; `largest_fleet`
raises N at the fast timing (a heartbeat every 2 s, a 6 s timeout) until a run has a false
takeover, and reports the largest N without one. Backups are a process that only waits: the
soak measures detection, not recording.
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.harness import PASSWORD, USER, local_stack
from bench.stats import emit, latency_fields
from hacore.launchers.process import kill_recorded
from recorder.controller import retry_delay

HOSTS = 10


class SimulatedRecorder:
    def __init__(self, url: str, sid: str, host: str, interval: float) -> None:
        self.url, self.sid, self.host, self.interval = url, sid, host, interval
        self.killed_at: float | None = None
        self.latencies: list[float] = []
        self.failures = 0
        self._stop = threading.Event()

    def run(self, until: float) -> None:
        http = requests.Session()
        http.auth = (USER, PASSWORD)
        body = {"sessionId": self.sid, "clientId": f"recorder-{self.host}", "clientHost": self.host}
        for attempt in range(10):  # as the recorder does: registration retries until it lands
            with contextlib.suppress(requests.RequestException):
                reply = http.post(f"{self.url}/api/sessions", json=body | {"status": "started"}, timeout=30)
                if reply.status_code in (201, 400):
                    break
            time.sleep(retry_delay(attempt + 1, self.interval))
        chunk, failures = 0, 0
        time.sleep(random.uniform(0, self.interval))  # recorders start at different moments
        while not self._stop.is_set() and time.monotonic() < until:
            began = time.perf_counter()
            try:
                reply = http.put(
                    f"{self.url}/api/sessions/{self.sid}/heartbeat",
                    json={"epoch": 1, "lastChunk": f"{chunk:04d}.mp4"},
                    timeout=(3.05, 10),
                )
                ok = reply.status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                self.latencies.append(time.perf_counter() - began)
                failures, chunk = 0, chunk + 1
            else:
                self.failures += 1
                failures += 1
            self._stop.wait(retry_delay(failures, self.interval))
        if not self._stop.is_set():  # the recording ends as a recorder ends it: stopped, not silent
            with contextlib.suppress(requests.RequestException):
                http.put(f"{self.url}/api/sessions/{self.sid}/status", json={"status": "stopped"}, timeout=30)

    def kill(self) -> None:
        self.killed_at = time.time()
        self._stop.set()


def _fleet_run(recorders: int, seconds: float, timing: str, kills: int, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    state = Path(tempfile.mkdtemp(prefix="ovha-soak-"))
    extra = {
        "HA_TIMING": timing,
        "APP_PROCESS_STATE_DIR": str(state),
        "APP_PROCESS_BACKUP_COMMAND": f"{sys.executable} -c 'import time; time.sleep(900)'",
    }
    try:
        with local_stack(extra, log=state / "stack.log") as url:
            status = requests.get(f"{url}/api/failover/status", auth=(USER, PASSWORD), timeout=10).json()
            interval = float(status["heartbeatIntervalSeconds"])
            timeout = float(status["heartbeatTimeoutSeconds"])
            check = status["checkIntervalMs"] / 1000
            fleet = [
                SimulatedRecorder(url, f"soak_{n:04d}", f"node-{n % HOSTS}", interval)
                for n in range(recorders)
            ]
            # the fleet records on after the soak, until the last kill's takeover is due (a timeout
            # and two sweeps), and is judged while it still records: a fleet that stops all at once
            # is not the steady state being measured
            settle = 2 * timeout + 2 * check + 3
            began = time.monotonic()
            until = began + seconds + settle
            threads = [threading.Thread(target=r.run, args=(until,), daemon=True) for r in fleet]
            for thread in threads:
                thread.start()
            # kills spread over the soak, after a warm-up of two timeouts, not in its last two
            last = max(2 * timeout + 1, seconds - 2 * timeout)
            moments = sorted(rng.uniform(2 * timeout, last) for _ in range(kills))
            victims = rng.sample(fleet, kills)
            for moment, victim in zip(moments, victims, strict=True):
                time.sleep(max(0.0, began + moment - time.monotonic()))
                victim.kill()
            time.sleep(max(0.0, began + seconds + settle - 2 - time.monotonic()))
            sessions = _sessions(url, [r.sid for r in fleet])
            for thread in threads:
                thread.join(timeout=60)
        guard = _guard_log(state / "stack.log")
    finally:
        kill_recorded(state)
    false_takeovers, taken = [], []
    for recorder in fleet:
        failovers = sessions.get(recorder.sid, {}).get("failovers") or []
        first = min((f["at"] for f in failovers), default=None)
        if first is None:
            continue
        # a takeover of a healthy recorder (never killed, or before its kill)
        if recorder.killed_at is None or first < recorder.killed_at:
            false_takeovers.append(recorder.sid)
        else:
            taken.append(recorder.sid)
    latencies = [s for r in fleet for s in r.latencies]
    fields = latency_fields(latencies)
    return {
        "recorders": recorders,
        "timing": timing,
        "seconds": seconds,
        "heartbeats": len(latencies),
        "heartbeats_per_s": round(len(latencies) / (seconds + settle), 1),
        "failed_heartbeats": sum(r.failures for r in fleet),
        "heartbeat_p50_ms": fields["p50_ms"],
        "heartbeat_p95_ms": fields["p95_ms"],
        "heartbeat_p99_ms": fields["p99_ms"],
        "killed": kills,
        "killed_taken_over": len(taken),
        "false_takeovers": len(false_takeovers),
        **guard,
    }


def _guard_log(log: Path) -> dict[str, Any]:
    """What the detector said while the fleet recorded: storms begun, takeovers held."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return {
        "storm_guard_engagements": text.count("STORM GUARD ON"),
        "sweeps_holding_takeovers": text.count("takeovers held this sweep"),
    }


def _sessions(url: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    def one(sid: str) -> tuple[str, dict[str, Any]]:
        reply = requests.get(f"{url}/api/sessions/{sid}", auth=(USER, PASSWORD), timeout=30)
        return sid, reply.json() if reply.ok else {}

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(one, ids))


def soak(recorders: int = 300, minutes: float = 5.0, kills: int = 15) -> dict[str, Any]:
    figures = _fleet_run(recorders, minutes * 60, "default", kills)
    return emit(
        "soak_default_timing",
        **figures,
        met=figures["false_takeovers"] == 0 and figures["killed_taken_over"] == kills,
    )


def largest_fleet(steps: tuple[int, ...] = (100, 200, 400, 600, 800), seconds: float = 60) -> dict[str, Any]:
    """Raises N at the fast timing. The stack *holds* N when no healthy recorder is taken over and
    every killed one is, in time. Past its capacity heartbeats land late on every host, and the
    storm guard should hold rather than take over: the steps go on while no healthy recorder is
    taken over, to show it."""
    holding = without_false = None
    runs = []
    for recorders in steps:
        figures = _fleet_run(recorders, seconds, "fast", kills=3)
        runs.append(figures)
        emit("soak_fast_step", **figures)
        if figures["false_takeovers"]:
            break
        without_false = recorders
        every_step_held = all(r["killed_taken_over"] == r["killed"] for r in runs)
        holding = recorders if every_step_held else holding
    return emit(
        "soak_fast_largest_fleet",
        largest_holding=holding,
        largest_without_false_takeovers=without_false,
        tried=[r["recorders"] for r in runs],
        guard_engaged_at=[r["recorders"] for r in runs if r["storm_guard_engagements"]],
        peak_heartbeats_per_s=max(r["heartbeats_per_s"] for r in runs),
        limit=(
            "the local gateway: one Python process (ThreadingHTTPServer, every Lambda handler, the "
            "detector and moto's DynamoDB in it, one GIL) serves at most the peak above; past it "
            "heartbeats and the detector's own reads queue there (in AWS each Lambda scales apart)"
        ),
    )


def run() -> None:
    soak()
    largest_fleet()
