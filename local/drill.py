"""The failover drill, through OpenVidu: the emulated OpenVidu 2.x (`local.openvidu`) starts the
primary recorder exactly as OpenVidu does, a fault is injected, the detector's backup continues,
OpenVidu stops the recording (its `stopped` webhook ends the backup), and the one final file
is checked, with what OpenVidu concluded and what the customer's endpoint was told.

It starts its own local stack (`python -m local up`, moto included, its media node's `.env`,
a customer's endpoint on localhost), records from the synthetic source, and prints one JSON
line per run: {"ok", "openvidu_status", "customer_terminal", "gap_s", "detect_s", ...}.
Modes: `kill` (the whole recorder, the default), `ffmpeg` (only ffmpeg: the agent heals in
place), `hang` (ffmpeg SIGSTOPped), `zombie` (the recorder SIGSTOPped, replaced, SIGCONTed),
`none` (no fault: OpenVidu concludes `ready`), `backup-kill` (the recorder, then its backup: the
platform's stopped-task event takes over at once). Each takeover reports `launch_s` (its claim
to the new recorder's first heartbeat) and `standby` (a warm standby took it). With a real
browser (Chromium in Xvfb with PulseAudio, on a local page with a moving clock and a tone):
`browser` (the browser killed), `renderer` (the page's renderer killed), `freeze` (the page hangs).
A still or black span over 2 s in the final file counts as lost media, as a gap between recorders
does: `lost_s`.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import requests

from hacore.launchers.process import kill_recorded
from local import ROOT, containers
from local.openvidu import OpenViduEmulator, Recording
from local.receiver import Receiver
from local.runtime import free_port, wait_until_serving
from local.test_page import TestPage
from recorder.layout import chunk_prefix, manifest_key
from recorder.stack import browser_pids, page_renderer_pids

USER, PASSWORD = "drill", "drill-password"
BUCKET = "ovha-local-recordingsbucket"


# What OpenVidu concludes, per mode: it judges its own container, which a takeover replaced.
OPENVIDU_EXPECTS = {
    "none": "ready",
    "ffmpeg": "ready",
    "hang": "ready",
    "kill": "failed",
    "backup-kill": "failed",
    "zombie": "failed",
    "browser": "ready",
    "renderer": "ready",
    "freeze": "ready",
}
BROWSER_MODES = ("browser", "renderer", "freeze")
# several recorders, a control-plane fault (local.fleet_drill)
FLEET_MODES = ("api-outage", "partition", "partition-pair", "node-loss")
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
LOST_SPAN_S = 2.0  # a still or black span longer than this is lost media
# Finalize treats chunks closer than 0.05 s as touching; a chunk's wall-clock start is ffmpeg's
# launch time plus its position, good to about a frame.
OVERLAP_TOLERANCE_S = 0.1
STILL = re.compile(r"lavfi\.freezedetect\.freeze_duration: (\d+(?:\.\d+)?)")
BLACK = re.compile(r"black_duration:(\d+(?:\.\d+)?)")
VOLUME = re.compile(r"mean_volume: (-?\d+(?:\.\d+)?) dB")


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


def wait(check: Callable[[], Any], seconds: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"gave up waiting {seconds:.0f}s for {what}")


@dataclass
class Run:
    stack: DrillStack
    workdir: Path
    mode: str
    rng: random.Random
    # what OpenVidu's recorder captures: the synthetic source, or the real stack (a browser in Xvfb
    # on the test page), which the browser modes always use
    source: str = "synthetic"
    session_id: str = field(default_factory=lambda: f"drill_{uuid.uuid4().hex[:8]}")

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.http.auth = self.stack.auth
        self.s3 = boto3.client(
            "s3",
            endpoint_url=self.stack.aws,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
        )
        self.chunk = float(self.stack.timing["chunkTimeSizeSeconds"])
        real = self.mode in BROWSER_MODES or self.source == "openvidu" or self.stack.runtime == "docker"
        self.page = TestPage(free_port()).up() if real else None
        self.openvidu = OpenViduEmulator(
            recordings_path=self.stack.recordings,
            webhook_url=f"{self.stack.url}/openvidu/webhook",
            containers_dir=self.workdir / "containers",
            layout_url=self.page.url if self.page else None,
            # the process runtime is the emulator's own, so that `image_env` below reaches its containers
            runtime=containers.docker_runtime(self.stack.recordings)
            if self.stack.runtime == "docker"
            else None,
        )
        if self.page is not None:  # the recorder image's default: OpenVidu's X display, pulse, browser
            self.openvidu.image_env |= {"RECORDER_SOURCE": "openvidu"}
        self.video_id = self.session_id  # OpenVidu's recording id: the session's, while it is free

    def session(self) -> dict[str, Any]:
        return self.http.get(f"{self.stack.url}/api/sessions/{self.video_id}", timeout=10).json()

    def stored_chunks(self) -> list[dict[str, Any]]:
        page = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=chunk_prefix(self.video_id))
        return page.get("Contents", [])

    def chunk_meta(self, key: str) -> dict[str, str]:
        return self.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]

    def stored_spans(self) -> dict[tuple[int, int], tuple[float, float]]:
        """(chunk number, epoch) -> (wall-clock start, duration), as each recorder wrote them in S3."""
        spans = {}
        for item in self.stored_chunks():
            meta = self.chunk_meta(item["Key"])
            name = item["Key"].rsplit("/", 1)[-1].split(".")[0]
            index = int(name.split("-e")[0])
            spans[(index, int(meta["epoch"]))] = (float(meta["wallclock-start"]), float(meta["duration"]))
        return spans

    def _wait_for_pool(self) -> None:
        """A full pool of warm standbys first, when there is one: a run models a failure in steady
        state (failures are rare), not one during the pool's own cold start."""
        size = int(self.stack.timing.get("standbyPoolSize") or 0)
        if size:
            delay = float(os.environ.get("APP_PROCESS_LAUNCH_DELAY") or 0)
            url = f"{self.stack.url}/api/standbys"
            wait(
                lambda: requests.get(url, auth=self.stack.auth, timeout=10).json()["idle"] >= size,
                delay + 120,
                "a full pool of warm standbys",
                every=0.5,
            )

    def execute(self) -> dict[str, Any]:
        self._wait_for_pool()
        recording = self.openvidu.start(name="drill", session_id=self.session_id, resolution="320x240")
        try:
            if recording.status != "started":
                raise RuntimeError(f"OpenVidu could not start the recording: {recording.status}")
            self.video_id = recording.id
            wait(lambda: len(self.stored_chunks()) >= 2, 60, "the primary's first chunks")
            time.sleep(self.rng.uniform(0, 3) * self.chunk)  # a random point inside some chunk
            return {"file_s": recording.timings.get("file_s")} | self._fail_and_recover(recording)
        finally:
            self.openvidu.kill(recording)
            if self.page is not None:
                self.page.down()

    def _fail_and_recover(self, recording: Recording) -> dict[str, Any]:
        result: dict[str, Any] = {"mode": self.mode, "runtime": self.stack.runtime, "video_id": self.video_id}
        assert recording.container is not None
        container = recording.container
        primary = self.openvidu.containers.main_pid(container)
        assert primary is not None
        failed_at = time.time()
        if self.mode in ("kill", "backup-kill"):
            self.openvidu.kill(recording)
        elif self.mode in ("ffmpeg", "hang"):
            ffmpeg = _child_ffmpeg(primary)
            os.kill(ffmpeg, signal.SIGKILL if self.mode == "ffmpeg" else signal.SIGSTOP)
        elif self.mode == "zombie":
            os.killpg(primary, signal.SIGSTOP)
        elif self.mode == "browser":
            os.kill(browser_pids(primary)[0], signal.SIGKILL)
        elif self.mode == "renderer":
            os.kill(page_renderer_pids(primary)[0], signal.SIGKILL)
        elif self.mode == "freeze" and self.page is not None:
            self.page.freeze()
        if self.mode in ("kill", "zombie", "backup-kill"):
            session = wait(
                lambda: (s := self.session())["failovers"] and s["failovers"][0].get("launchedAt") and s,
                300,
                "the backup's launch",
            )
            result["detect_s"] = round(session["failovers"][0]["launchedAt"] - failed_at, 2)
            first = wait(lambda: self._first_chunk_of_epoch(2), 300, "the backup's first chunk")
            result["backup_first_chunk_s"] = round(first - failed_at, 2)
            result |= self._launch_figures(0)
        if self.mode == "backup-kill":
            backup = self.session()["backupContainerId"]
            time.sleep(self.chunk)  # it records a little
            self._wait_for_pool()
            self._crash_backup(backup)
            killed_at = time.time()
            session = wait(
                lambda: (
                    len((s := self.session())["failovers"]) > 1 and s["failovers"][1].get("launchedAt") and s
                ),
                300,
                "the second takeover's launch",
            )
            result["relaunch_s"] = round(session["failovers"][1]["launchedAt"] - killed_at, 2)
            wait(lambda: self._first_chunk_of_epoch(3), 300, "the second backup's first chunk")
            result |= {f"second_{k}": v for k, v in self._launch_figures(1).items()}
        elif self.mode in BROWSER_MODES:
            frozen_s = float(os.environ.get("CAPTURE_FROZEN_SECONDS", "10"))
            time.sleep(max(3 * self.chunk, frozen_s + 8))  # noticed, healed, and recorded on
        elif self.mode != "none":
            wait(lambda: self._first_chunk_after(failed_at), 60, "a chunk after the capture failure")
        if self.mode == "zombie":
            os.killpg(primary, signal.SIGCONT)
            result["zombie_exit"] = wait(
                lambda: self.openvidu.containers.exit_code(container), 60, "the zombie to stop itself"
            )
        time.sleep(2 * self.chunk)  # let the survivor record a little more
        self.openvidu.stop(recording)  # stopped, q, 30 s, .info: ready or failed
        result["openvidu_status"] = recording.status
        result["stop_to_exit_s"] = recording.timings.get("stop_to_exit_s")
        manifest = wait(lambda: self._manifest(), 180, "the final file and manifest", every=1)
        verified = self._verify(manifest)
        terminal = self._customer_terminal(manifest)
        verified["checks"]["openvidu_as_expected"] = recording.status == OPENVIDU_EXPECTS[self.mode]
        verified["checks"]["customer_told_ready_once"] = (
            terminal["status"] == "ready" and terminal["count"] == 1
        )
        verified["checks"]["customer_file_complete"] = bool(terminal.get("complete"))
        verified["checks"]["stopped_before_terminal"] = bool(terminal.get("after_stopped"))
        verified["ok"] = all(verified["checks"].values())
        session = self.session()
        health = session.get("captureHealth")
        result["takeovers"] = len(session["failovers"])
        return result | {"customer_terminal": terminal, "capture_health": health} | verified

    def _crash_backup(self, ref: str) -> None:
        """The backup dies as a crash kills it: SIGKILL from outside, nobody's stop."""
        if self.stack.runtime == "docker":
            from local import engine

            containers.crash(engine.client().containers.get(ref))
        else:
            os.killpg(int(ref.split(":")[1]), signal.SIGKILL)  # process:<pid>:<token>

    def _launch_figures(self, takeover: int) -> dict[str, Any]:
        """Claim to the new recorder's first heartbeat, and whether a warm standby took it."""
        event = wait(
            lambda: (f := self.session()["failovers"])[takeover].get("runningAt") and f[takeover],
            300,
            "the new recorder's first heartbeat",
        )
        return {
            "launch_s": round(event["runningAt"] - event["at"], 2),
            "standby": bool(event.get("standbyId")),
        }

    def _customer_terminal(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """What the customer's endpoint was told about this recording, in order; its terminal event."""

        def events() -> list[dict[str, Any]]:
            bodies = [json.loads(r["body"] or b"{}") for r in list(self.stack.customer.requests)]
            return [
                b
                for b in bodies
                if b.get("event") == "recordingStatusChanged" and b.get("id") == self.video_id
            ]

        wait(
            lambda: any(e.get("status") in ("ready", "failed") for e in events()),
            120,
            "the customer's terminal",
        )
        time.sleep(max(2.0, 2 * self.chunk))  # a second terminal would arrive in this time
        seen = events()
        statuses = [e.get("status") for e in seen]
        terminals = [e for e in seen if e.get("status") in ("ready", "failed")]
        first = terminals[0]
        return {
            "status": first.get("status"),
            "count": len(terminals),
            "events": statuses,
            "after_stopped": "stopped" in statuses
            and statuses.index("stopped") < statuses.index(first["status"]),
            "synthesized": "ha" in first,
            "complete": first.get("status") == "ready" and self._names_the_whole_file(first, manifest),
        }

    def _names_the_whole_file(self, event: dict[str, Any], manifest: dict[str, Any]) -> bool:
        """The size the customer was told is the final file's (in S3, or OpenVidu's folder)."""
        if event.get("ha", {}).get("key"):
            stored = self.s3.head_object(Bucket=event["ha"]["bucket"], Key=event["ha"]["key"])
            return int(event["size"]) == stored["ContentLength"] and manifest["final"] == event["ha"]["key"]
        local = self.stack.recordings / self.video_id / "drill.mp4"
        return local.exists() and int(event["size"]) == local.stat().st_size

    def _first_chunk_of_epoch(self, epoch: int) -> float | None:
        for item in self.stored_chunks():
            if self.chunk_meta(item["Key"]).get("epoch") == str(epoch):
                return item["LastModified"].timestamp()
        return None

    def _first_chunk_after(self, moment: float) -> bool:
        return any(item["LastModified"].timestamp() > moment + self.chunk for item in self.stored_chunks())

    def _manifest(self) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=manifest_key(self.video_id))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)

    def _verify(self, manifest: dict[str, Any]) -> dict[str, Any]:
        final = self.workdir / f"{self.video_id}.mp4"
        self.s3.download_file(BUCKET, manifest["final"], str(final))
        decode = subprocess.run(
            # the decoder's own timestamps (`-enc_time_base -1`): a captured screen's frame rate
            # varies a little, and rounding it to a guessed constant rate would report two frames
            # in one tick, a fault of the check, not of the file
            ["ffmpeg", "-v", "error", "-i", str(final), "-enc_time_base", "-1", "-f", "null", "-"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(final)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        duration = float(probe.stdout.strip() or 0)
        content = content_report(final)
        indices = [c["index"] for c in manifest["chunks"]]
        included = [c["index"] for c in manifest["chunks"] if c["included"]]
        reported_missing = {i for gap in manifest["gaps"] for i in gap["missingChunks"]}
        actually_missing = set(range(min(indices), max(indices) + 1)) - set(indices) if indices else set()
        recorder_gaps = [g["seconds"] for g in manifest["gaps"] if g["fromEpoch"] != g["toEpoch"]]
        expected_time = sum(c["playedSeconds"] or 0 for c in manifest["chunks"] if c["included"])
        timeline = timeline_report(manifest, self.stored_spans())
        checks = {
            "plays_end_to_end": decode.returncode == 0 and not decode.stderr.strip(),
            "duration_matches": abs(duration - expected_time) < 1.5,
            # what the file plays, placed by each chunk's own wall clock (read from S3 here)
            "no_instant_twice": timeline["overlap_s"] <= OVERLAP_TOLERANCE_S,
            "in_time_order": timeline["reordered"] == 0,
            "nothing_stored_left_out": timeline["left_out_s"] <= OVERLAP_TOLERANCE_S,
            "missing_only_in_reported_gap": actually_missing <= reported_missing,
            "one_final_file": bool(manifest["final"]),
            "has_sound": content["mean_volume_db"] is not None and content["mean_volume_db"] > -50,
        }
        ok, chunks = all(checks.values()), manifest["chunks"]
        gap_lost = sum(g for g in recorder_gaps if g is not None and g > 0)
        return {
            "ok": ok,
            "lost_s": round(gap_lost + content["still_s"], 2),
            "still_spans_s": content["still_spans_s"],
            "still_over_half_second_s": content["glitch_s"],
            "mean_volume_db": content["mean_volume_db"],
            "stack_still_spans": manifest.get("stillSpans", []),
            "gap_s": round(sum(g for g in recorder_gaps if g is not None), 2)
            if recorder_gaps
            else round(max([g["seconds"] or 0 for g in manifest["gaps"]] or [0]), 2),
            "duration_s": round(duration, 2),
            "chunks_total_s": round(expected_time, 2),
            "chunks": len(included),
            "excluded": manifest["excluded"],
            "epochs": manifest["epochs"],
            "overlap_s": timeline["overlap_s"],
            "reordered": timeline["reordered"],
            "left_out_s": timeline["left_out_s"],
            "overlap_dropped_s": manifest.get("overlapSeconds", 0.0),
            "checks": checks,
            "decode_errors": decode.stderr.strip()[:300] or None,
            # on a failure, what the manifest says of each chunk: [index, epoch, seconds]
            **({} if ok else {"manifest_chunks": [[c["index"], c["epoch"], c["duration"]] for c in chunks]}),
        }


def timeline_report(
    manifest: dict[str, Any], stored: dict[tuple[int, int], tuple[float, float]]
) -> dict[str, Any]:
    """What the final file plays, in the wall-clock time each recorder stamped on its chunks:
    seconds played twice (`overlap_s`), steps back in time (`reordered`), and seconds some
    recorder stored that the file leaves out (`left_out_s`). The manifest gives the file's order
    and how much of each chunk plays (the file's duration is checked against that); the times
    come from S3, not from the manifest."""
    played = {(c["index"], c["epoch"]): c["playedSeconds"] for c in manifest["chunks"] if c["included"]}
    spans = []
    for index, epoch in manifest.get("timeline") or []:
        start, _ = stored[(index, epoch)]
        spans.append((start, start + (played.get((index, epoch)) or 0.0)))
    reordered = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[0] - OVERLAP_TOLERANCE_S)
    overlap, reach = 0.0, None
    for start, end in spans:
        if reach is not None and start < reach:
            overlap += min(reach, end) - start
        reach = end if reach is None else max(reach, end)
    left_out = 0.0
    merged = _union(spans)
    unreadable = {
        (c["index"], c["epoch"]) for c in manifest["chunks"] if "unreadable" in (c["problem"] or "")
    }
    for key, (start, duration) in stored.items():
        if key not in unreadable:  # reported as excluded, and counted as such
            left_out += duration - _covered_by(merged, start, start + duration)
    return {"overlap_s": round(overlap, 3), "reordered": reordered, "left_out_s": round(left_out, 3)}


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1] + 1e-6:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _covered_by(merged: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for a, b in merged)


def content_report(final: Path) -> dict[str, Any]:
    """Still or black spans over LOST_SPAN_S (freezedetect, blackdetect) and the mean volume."""
    run = subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-i", str(final)),
            *("-vf", f"freezedetect=n=-60dB:d={LOST_SPAN_S},blackdetect=d={LOST_SPAN_S}"),
            *("-af", "volumedetect", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    glitches = subprocess.run(  # the short ones too, for the record: what a viewer would notice
        [
            *("ffmpeg", "-hide_banner", "-nostats", "-loglevel", "info", "-i", str(final)),
            *("-vf", "freezedetect=n=-60dB:d=0.5", "-an", "-f", "null", "-"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    spans = [float(x) for x in STILL.findall(run.stderr)] + [float(x) for x in BLACK.findall(run.stderr)]
    volume = VOLUME.search(run.stderr)
    # a black picture is also still: count a span once, the longer reading
    still = max(
        sum(float(x) for x in STILL.findall(run.stderr)), sum(float(x) for x in BLACK.findall(run.stderr))
    )
    return {
        "still_spans_s": [round(x, 2) for x in spans],
        "still_s": round(still, 2),
        "glitch_s": round(sum(float(x) for x in STILL.findall(glitches.stderr)), 2),
        "mean_volume_db": float(volume.group(1)) if volume else None,
    }


def _child_ffmpeg(agent_pid: int) -> int:
    children = Path(f"/proc/{agent_pid}/task/{agent_pid}/children").read_text().split()
    for child in children:
        if Path(f"/proc/{child}/comm").read_text().strip() == "ffmpeg":
            return int(child)
    raise RuntimeError("the recorder has no ffmpeg child")


def run_drill(
    runs: int = 1,
    timing: str | None = None,
    mode: str = "kill",
    seed: int | None = None,
    source: str = "synthetic",
    runtime: str = "process",
) -> list[dict]:
    timing = timing or os.environ.get("HA_TIMING", "default")
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="ovha-drill-") as scratch:
        workdir = Path(scratch)
        stack = start_stack(workdir, timing, runtime=runtime)
        try:
            for number in range(1, runs + 1):
                run_dir = workdir / f"run-{number}"
                run_dir.mkdir()
                try:
                    if mode in FLEET_MODES:
                        from local.fleet_drill import FleetRun

                        result = FleetRun(stack, run_dir, mode, rng).execute()
                    else:
                        result = Run(stack, run_dir, mode, rng, source).execute()
                except (TimeoutError, RuntimeError, requests.RequestException) as error:
                    result = {"ok": False, "mode": mode, "runtime": runtime, "error": str(error)}
                result = {"run": number, "timing": timing, **result}
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            stop_stack(stack)
    if runs > 1:
        summary = _summary(results, timing, mode) | {"runtime": runtime}
        print(json.dumps(summary), flush=True)
    return results


def _summary(results: list[dict], timing: str, mode: str) -> dict[str, Any]:
    terminals = [r.get("customer_terminal", {}) for r in results]

    def percentile(key: str, share: float) -> float | None:
        values = sorted(r[key] for r in results if r.get(key) is not None)
        return values[min(len(values) - 1, round(share * (len(values) - 1)))] if values else None

    def p95(key: str) -> float | None:
        return percentile(key, 0.95)

    return {
        "summary": True,
        "timing": timing,
        "mode": mode,
        "runs": len(results),
        "standby_pool_size": int(os.environ.get("APP_STANDBY_POOL_SIZE") or 0),
        "launch_delay_s": float(os.environ.get("APP_PROCESS_LAUNCH_DELAY") or 0),
        "ok_runs": sum(1 for r in results if r.get("ok")),
        "openvidu_status": sorted({r.get("openvidu_status") for r in results if r.get("openvidu_status")}),
        "customer_ready_complete": sum(
            1 for t in terminals if t.get("status") == "ready" and t.get("complete")
        ),
        "gap_p50_s": percentile("gap_s", 0.5),
        "gap_p95_s": p95("gap_s"),
        "launch_p50_s": percentile("launch_s", 0.5),
        "launch_p95_s": p95("launch_s"),
        "standby_takeovers": sum(1 for r in results if r.get("standby")),
        "relaunch_max_s": max(
            (r["relaunch_s"] for r in results if r.get("relaunch_s") is not None), default=None
        ),
        "detect_p95_s": p95("detect_s"),
        "backup_first_chunk_p95_s": p95("backup_first_chunk_s"),
        "gap_max_s": max(
            (g for r in results if (g := r.get("gap_s", r.get("gap_max_s"))) is not None), default=None
        ),
        # the control-plane modes: every recording of every run, and its file
        "recordings_ok": sum(1 for r in results for f in r.get("recordings", []) if f.get("ok")),
        "recordings": sum(len(r.get("recordings", [])) for r in results),
        "lost_p50_s": percentile("lost_s", 0.5),
        "lost_p95_s": percentile("lost_s", 0.95),
        "lost_max_s": max((r["lost_s"] for r in results if r.get("lost_s") is not None), default=None),
        "takeovers": [r.get("takeovers") for r in results],
        "overlap_max_s": max(
            (r["overlap_s"] for r in results if r.get("overlap_s") is not None), default=None
        ),
        "reordered": sum(r.get("reordered") or 0 for r in results),
        "fenced_exit_max_s": max(
            (r["fenced_exit_s"] for r in results if r.get("fenced_exit_s") is not None), default=None
        ),
    }
