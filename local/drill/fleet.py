"""Control-plane drills: several recordings on emulated media nodes, each node's controller
traffic through its own cuttable proxy (`local.proxy`; S3 is reached directly), one fault:

* `api-outage`: every node's proxy refuses all traffic for twice the heartbeat timeout. The
  detector, which reads DynamoDB directly, sees every recorder go silent at once: the storm
  guard must hold. 0 takeovers; every file complete, gap 0.
* `partition` (one recorder, the smallest deployment) and `partition-pair` (two recorders on one
  node): the node's controller traffic is dropped (a blackhole) for 2.5 times the heartbeat
  timeout while it still reaches S3. No storm is possible (one host), so only the second
  witness keeps them: S3 shows their chunks arriving. 0 takeovers, each shown `unheard` on the
  status route meanwhile, and every file complete with no gap.
* `node-loss`: all three recorders of one node are killed at once, three on another node live
  on. 3 takeovers, none for the living.

Each recording's final file is judged as in every drill (`local.drill.media.verify`); the JSON line adds
`takeovers`, `overlap_s` (seconds the files play twice, worst recording), `reordered` (steps back
in time) and, for a partition, `unheard` (the sessions the status route showed unheard).
"""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from local.drill.probes import wait
from local.drill.run import Run
from local.drill.stack import DrillStack
from local.openvidu import Recording
from local.proxy import Proxy

LAYOUTS: dict[str, dict[str, int]] = {
    "api-outage": {"node-a": 2, "node-b": 2},
    "partition": {"node-a": 1},
    "partition-pair": {"node-a": 2},
    "node-loss": {"node-a": 3, "node-b": 3},
}
PARTITIONS = ("partition", "partition-pair")
CUT_TIMEOUTS = 2.5  # a partition lasts this many heartbeat timeouts
STRUCK = "node-a"  # the node the fault hits (all nodes in an API outage)


@dataclass
class Member:
    node: str
    run: Run
    recording: Recording | None = None
    struck: bool = False  # killed, or fenced: OpenVidu concludes `failed` for its own container


class FleetRun:
    def __init__(self, stack: DrillStack, workdir: Path, mode: str, rng: random.Random) -> None:
        self.stack, self.mode, self.rng = stack, mode, rng
        gateway = urlsplit(stack.url).port or 80
        self.proxies = {node: Proxy(gateway).up() for node in LAYOUTS[mode]}
        self.members: list[Member] = []
        for node, count in LAYOUTS[mode].items():
            for n in range(count):
                folder = workdir / f"{node}-{n}"
                folder.mkdir()
                run = Run(stack, folder, "none", rng)
                # a media node's recorder: OpenVidu runs it with network `host`, so its hostname is
                # the node's; its controller URL (the node's .env) leads through the node's proxy
                run.openvidu.image_env |= {"HOSTNAME": node, "HA_CONTROLLER_URL": self.proxies[node].url}
                self.members.append(Member(node, run))
        self.timing = stack.timing
        self.chunk = float(self.timing["chunkTimeSizeSeconds"])
        self.timeout = float(self.timing["heartbeatTimeoutSeconds"])
        self.unheard: list[str] = []  # a partition's: whom the status route showed unheard

    def execute(self) -> dict[str, Any]:
        try:
            for member in self.members:
                run = member.run
                member.recording = run.start()
            for member in self.members:
                wait(
                    lambda m=member: len(m.run.probes.stored_chunks()) >= 2, 60, "each primary's first chunks"
                )
            time.sleep(self.rng.uniform(0, 2) * self.chunk)  # a random point inside some chunk
            result: dict[str, Any] = {"mode": self.mode, "recorders": len(self.members)}
            fault = "partition" if self.mode in PARTITIONS else self.mode
            result |= getattr(self, "_" + fault.replace("-", "_"))()
            time.sleep(2 * self.chunk)  # every survivor records a little more
            return result | self._stop_and_judge()
        finally:
            for member in self.members:
                if member.recording is not None:
                    member.run.openvidu.kill(member.recording)
            for proxy in self.proxies.values():
                proxy.down()

    # --- the faults ------------------------------------------------------------------

    def _api_outage(self) -> dict[str, Any]:
        for proxy in self.proxies.values():
            proxy.cut("refuse")
        began = time.monotonic()
        engaged = False
        while time.monotonic() - began < 2 * self.timeout:
            engaged = engaged or self._guard()["engaged"]
            time.sleep(0.5)
        for proxy in self.proxies.values():
            proxy.restore()
        # heard again within a heartbeat interval or two; a late takeover would come within a timeout
        wait(lambda: all(self._heard_lately(m) for m in self.members), 3 * self.timeout, "heartbeats again")
        time.sleep(self.timeout + 2 * float(self.timing["checkIntervalMs"]) / 1000)
        return {
            "outage_s": round(2 * self.timeout, 1),
            "storm_guard_engaged": engaged,
            "refused_connections": sum(p.refused for p in self.proxies.values()),
            "healthy_after": all(self._heard_lately(m) for m in self.members),
        }

    def _partition(self) -> dict[str, Any]:
        cut_off = [m for m in self.members if m.node == STRUCK]
        self.proxies[STRUCK].cut("blackhole")
        began = time.monotonic()
        unheard: set[str] = set()
        while time.monotonic() - began < CUT_TIMEOUTS * self.timeout:
            unheard |= set(self._guard()["unheard"])
            if any(m.run.probes.session()["failovers"] for m in cut_off):
                break  # taken over: the judgement says so
            time.sleep(0.5)
        self.proxies[STRUCK].restore()
        wait(lambda: all(self._heard_lately(m) for m in cut_off), 3 * self.timeout, "heartbeats again")
        self.unheard = sorted(unheard)
        return {
            "cut_s": round(time.monotonic() - began, 1),
            "unheard": self.unheard,
            "swallowed_connections": self.proxies[STRUCK].refused,
        }

    def _node_loss(self) -> dict[str, Any]:
        lost = [m for m in self.members if m.node == STRUCK]
        killed_at = time.time()
        for member in lost:
            member.struck = True
            assert member.recording is not None
            member.run.openvidu.kill(member.recording)
        detect = []
        for member in lost:
            session = wait(
                lambda m=member: (
                    (s := m.run.probes.session())["failovers"] and s["failovers"][0].get("launchedAt") and s
                ),
                120,
                "a takeover of each lost recording",
            )
            detect.append(round(session["failovers"][0]["launchedAt"] - killed_at, 2))
            wait(lambda m=member: m.run.probes.first_chunk_of_epoch(2), 120, "each backup's first chunk")
        return {"detect_s": detect}

    # --- the judgement ---------------------------------------------------------------

    def _stop_and_judge(self) -> dict[str, Any]:
        def stop(member: Member) -> None:
            assert member.recording is not None
            member.run.openvidu.stop(member.recording)

        stoppers = [threading.Thread(target=stop, args=(m,)) for m in self.members]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=120)
        with ThreadPoolExecutor(len(self.members)) as judges:  # each waits for its own files and events
            recordings = list(judges.map(self._judge, self.members))
        takeovers = {r["video_id"]: r["takeovers"] for r in recordings if r["takeovers"]}
        expected = {"node-loss": 3}.get(self.mode, 0)
        on_struck_only = all(r["node"] == STRUCK for r in recordings if r["takeovers"])
        checks = {
            "takeovers_as_expected": sum(takeovers.values()) == expected,
            "none_for_the_living": self.mode == "api-outage" or on_struck_only,
            "every_file_ok": all(r["ok"] for r in recordings),
        }
        if self.mode in PARTITIONS:  # the status route named each cut-off recorder unheard
            checks["each_shown_unheard"] = {m.run.video_id for m in self.members} <= set(self.unheard)
        if self.mode != "node-loss":
            checks["every_file_complete_gap_0"] = all(
                r["gap_s"] == 0 and not r["missing"] and r["epochs"] == [1] for r in recordings
            )
        return {
            "ok": all(checks.values()),
            "takeovers": sum(takeovers.values()),
            "overlap_s": max(r["overlap_s"] for r in recordings),
            "reordered": sum(r["reordered"] for r in recordings),
            "overlap_dropped_s": round(sum(r["overlap_dropped_s"] for r in recordings), 2),
            "gap_max_s": max((r["gap_s"] for r in recordings if r["gap_s"] is not None), default=None),
            "checks": checks,
            "recordings": recordings,
        }

    def _judge(self, member: Member) -> dict[str, Any]:
        run, recording = member.run, member.recording
        assert recording is not None
        try:
            manifest = wait(lambda: run.probes.manifest(), 180, "the final file and manifest", every=1)
        except TimeoutError as error:
            return {
                "node": member.node,
                "video_id": run.video_id,
                "ok": False,
                "error": str(error),
                "takeovers": len(run.probes.session()["failovers"]),
                "overlap_s": 0.0,
                "reordered": 0,
                "overlap_dropped_s": 0.0,
                "gap_s": None,
                "missing": None,
                "epochs": None,
            }
        verified = run.verify(manifest)
        terminal = run.probes.customer_terminal(manifest)
        checks = verified["checks"] | {
            "openvidu_as_expected": recording.status == ("failed" if member.struck else "ready"),
            "customer_told_ready_once": terminal["status"] == "ready" and terminal["count"] == 1,
            "customer_file_complete": bool(terminal.get("complete")),
        }
        return {
            "node": member.node,
            "video_id": run.video_id,
            "ok": all(checks.values()),
            "takeovers": len(run.probes.session()["failovers"]),
            "openvidu_status": recording.status,
            "epochs": verified["epochs"],
            "gap_s": verified["gap_s"],
            "missing": manifest["missing"],
            "overlap_s": verified["overlap_s"],
            "reordered": verified["reordered"],
            "left_out_s": verified["left_out_s"],
            "overlap_dropped_s": verified["overlap_dropped_s"],
            "duration_s": verified["duration_s"],
            **({} if all(checks.values()) else {"checks": checks}),
        }

    # --- helpers ---------------------------------------------------------------------

    def _guard(self) -> dict[str, Any]:
        reply = requests.get(f"{self.stack.url}/api/failover/status", auth=self.stack.auth, timeout=10)
        guard: dict[str, Any] = reply.json()["stormGuard"]
        return guard

    def _heard_lately(self, member: Member) -> bool:
        session = member.run.probes.session()
        beat = datetime.fromisoformat(session["lastHeartbeat"].replace("Z", "+00:00")).timestamp()
        interval = float(self.timing["heartbeatIntervalSeconds"])
        return session["status"] == "RECORDING" and time.time() - beat < 2 * interval
