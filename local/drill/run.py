"""One recording through OpenVidu and one fault (`faults.FAULTS`): the emulated OpenVidu starts
the primary as OpenVidu does, the fault strikes at a random point inside a chunk, the backup (if
one is due) continues, OpenVidu stops the recording, and the one final file is judged
(`media.verify`) with what OpenVidu concluded and what the customer's endpoint was told."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from local import containers
from local.drill.faults import FAULTS
from local.drill.media import verify
from local.drill.probes import Probes, wait
from local.drill.stack import DrillStack
from local.openvidu import OpenViduEmulator, Recording
from local.runtime import free_port
from local.test_page import TestPage


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
        self.fault = FAULTS[self.mode]
        # OpenVidu's recording id: the session's, while it is free (set when the recording starts)
        self.probes = Probes(self.stack, self.session_id)
        self.chunk = self.probes.chunk
        real = self.fault.browser or self.source == "openvidu" or self.stack.runtime == "docker"
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
        self._recording: Recording | None = None
        self.watcher: Any = None
        if self.fault.watcher and self.stack.runtime != "docker":
            raise RuntimeError(f"{self.mode} runs the media node's watcher: it needs --runtime docker")

    @property
    def video_id(self) -> str:
        return self.probes.video_id

    def kill_primary(self) -> None:
        if self._recording is not None:
            self.openvidu.kill(self._recording)

    def freeze_page(self) -> None:
        if self.page is not None:
            self.page.freeze()

    def hand_over(self) -> None:
        reply = self.probes.http.post(f"{self.stack.url}/api/sessions/{self.video_id}/handover", timeout=30)
        if reply.status_code != 202:
            raise RuntimeError(f"the handover was refused: {reply.status_code} {reply.text[:300]}")

    def start(self) -> Recording:
        """OpenVidu starts the recording (its primary recorder); from now on it has its id."""
        recording = self.openvidu.start(name="drill", session_id=self.session_id, resolution="320x240")
        if recording.status != "started":
            raise RuntimeError(f"OpenVidu could not start the recording: {recording.status}")
        self._recording, self.probes.video_id = recording, recording.id
        return recording

    def verify(self, manifest: dict[str, Any]) -> dict[str, Any]:
        return verify(self.probes, self.workdir, manifest)

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
        try:
            if self.fault.watcher:  # the media node's, up before OpenVidu starts the recording
                self.watcher = self.openvidu.containers.watch("drill-node")
                wait(lambda: b"watching the recording containers" in self.watcher.logs(), 60, "the watcher")
            return self._record()
        finally:
            if self.watcher is not None:
                (self.workdir / "watcher.log").write_bytes(self.watcher.logs())
                self.watcher.remove(force=True)

    def _record(self) -> dict[str, Any]:
        self._wait_for_pool()
        recording = self.start()
        try:
            wait(lambda: len(self.probes.stored_chunks()) >= 2, 60, "the primary's first chunks")
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
        if self.fault.redundant:  # the shadow records, and has stored a chunk, before the fault
            wait(
                lambda: (
                    (shadow := self.probes.session()["shadow"])
                    and shadow["outcome"] == "running"
                    and self.probes.first_chunk_of_epoch(shadow["epoch"])
                ),
                300,
                "the shadow recorder's first chunk",
            )
        failed_at = time.time()
        if self.fault.inject is not None:
            self.fault.inject(self, primary)
        if self.fault.redundant:
            promoted = wait(
                lambda: next(
                    (
                        f
                        for f in self.probes.session()["failovers"]
                        if f.get("detail") == "the shadow, promoted"
                    ),
                    None,
                ),
                300,
                "the shadow's promotion",
            )
            result |= {
                "claim_s": round(promoted["at"] - failed_at, 2),
                "reason": promoted["reason"],
                "promoted": True,
            }
        if self.fault.takeover:
            session = wait(
                lambda: (
                    (s := self.probes.session())["failovers"] and s["failovers"][0].get("launchedAt") and s
                ),
                300,
                "the backup's launch",
            )
            result["detect_s"] = round(session["failovers"][0]["launchedAt"] - failed_at, 2)
            result["claim_s"] = round(session["failovers"][0]["at"] - failed_at, 2)  # the death to the claim
            result["reason"] = session["failovers"][0]["reason"]
            if self.fault.watcher:  # the watcher's report, not the heartbeat timeout, took it over
                result["watcher_reported"] = result["reason"] == "recorder-exited"
            first = wait(lambda: self.probes.first_chunk_of_epoch(2), 300, "the backup's first chunk")
            result["backup_first_chunk_s"] = round(first - failed_at, 2)
            result |= self._launch_figures(0)
        if self.fault.handover:
            result |= self.handover_figures(failed_at, container, self.fault.handover)
        if self.fault.second_takeover:
            backup = self.probes.session()["backupContainerId"]
            time.sleep(self.chunk)  # it records a little
            self._wait_for_pool()
            self._crash_backup(backup)
            killed_at = time.time()
            session = wait(
                lambda: (
                    len((s := self.probes.session())["failovers"]) > 1
                    and s["failovers"][1].get("launchedAt")
                    and s
                ),
                300,
                "the second takeover's launch",
            )
            result["relaunch_s"] = round(session["failovers"][1]["launchedAt"] - killed_at, 2)
            wait(lambda: self.probes.first_chunk_of_epoch(3), 300, "the second backup's first chunk")
            result |= {f"second_{k}": v for k, v in self._launch_figures(1).items()}
        elif self.fault.browser:
            frozen_s = float(os.environ.get("CAPTURE_FROZEN_SECONDS", "10"))
            time.sleep(max(3 * self.chunk, frozen_s + 8))  # noticed, healed, and recorded on
        elif self.fault.inject is not None:
            wait(lambda: self.probes.first_chunk_after(failed_at), 60, "a chunk after the capture failure")
        if self.fault.resume:
            os.killpg(primary, signal.SIGCONT)
            result["zombie_exit"] = wait(
                lambda: self.openvidu.containers.exit_code(container), 60, "the zombie to stop itself"
            )
        return self.finish(recording, result)

    def finish(self, recording: Recording, result: dict[str, Any]) -> dict[str, Any]:
        """The recording stopped as OpenVidu stops it, its final file judged, and the checks the
        fault owes (a handover's, the watcher's)."""
        time.sleep(2 * self.chunk)  # let the survivor record a little more
        self.openvidu.stop(recording)  # stopped, q, 30 s, .info: ready or failed
        result["openvidu_status"] = recording.status
        result["stop_to_exit_s"] = recording.timings.get("stop_to_exit_s")
        manifest = wait(lambda: self.probes.manifest(), 180, "the final file and manifest", every=1)
        verified = self.verify(manifest)
        terminal = self.probes.customer_terminal(manifest)
        verified["checks"]["openvidu_as_expected"] = recording.status == self.fault.openvidu_expects
        verified["checks"]["customer_told_ready_once"] = (
            terminal["status"] == "ready" and terminal["count"] == 1
        )
        verified["checks"]["customer_file_complete"] = bool(terminal.get("complete"))
        verified["checks"]["stopped_before_terminal"] = bool(terminal.get("after_stopped"))
        if self.fault.handover:
            verified["checks"] |= {
                "handed_over": result["handover_outcome"] == "running",
                "old_recorder_stopped_itself": result["old_recorder_exit"] == 3,
                "no_gap": verified["gap_s"] <= 0,
                "no_still_over_half_second": verified["still_over_half_second_s"] == 0,
                "sound_throughout": verified["silent_over_half_second_s"] == 0,
            }
        if self.fault.redundant:
            verified["checks"] |= {
                "promoted": bool(result.get("promoted")),
                "lost_at_most_half_second": verified["lost_s"] <= 0.5,
                "sound_throughout": verified["silent_over_half_second_s"] == 0,
            }
        if "watcher_reported" in result:
            verified["checks"]["watcher_reported"] = result["watcher_reported"]
            start = int(self.probes.session()["failovers"][0]["startChunk"])
            # the dead recorder's chunks at or past the backup's start: only the watcher's salvage stores them
            result["salvaged_chunks"] = sum(
                1 for index, epoch in self.probes.stored_spans() if epoch == 1 and index >= start
            )
        verified["ok"] = all(verified["checks"].values())
        session = self.probes.session()
        health = session.get("captureHealth")
        result["takeovers"] = len(session["failovers"])
        return result | {"customer_terminal": terminal, "capture_health": health} | verified

    def handover_figures(self, began: float, old: Any, reason: str = "handover") -> dict[str, Any]:
        """Asked to the new recorder's first durable chunk (`handover_s`), and the old one's exit."""
        event = wait(
            lambda: next((f for f in self.probes.session()["failovers"] if f["reason"] == reason), None),
            300,
            "the handover's end",
        )
        exit_code = wait(
            lambda: self.openvidu.containers.exit_code(old), 120, "the old recorder to stop itself"
        )
        return {
            "handover_outcome": event["outcome"],
            "handover_s": round((event.get("runningAt") or began) - began, 2),
            "standby": bool(event.get("standbyId")),
            "old_recorder_exit": exit_code,
        }

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
            lambda: (f := self.probes.session()["failovers"])[takeover].get("runningAt") and f[takeover],
            300,
            "the new recorder's first heartbeat",
        )
        return {
            "launch_s": round(event["runningAt"] - event["at"], 2),
            "standby": bool(event.get("standbyId")),
        }
