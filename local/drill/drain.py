"""`make drill MODE=drain RUNTIME=docker`: three recordings on one media node, whose recorders
register its EC2 instance id; the node's Spot interruption warning is put on the stack's
EventBridge as AWS sends it, and the drain hands each recording over, make-before-break, a few
at a time. Each file is judged as a handover's (`Run.finish`): no gap, nothing twice, no still or
silent span over half a second; and the node ends empty, its drain over."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from local.drill.probes import wait
from local.drill.run import Run
from local.drill.stack import DrillStack
from local.event_sources import put_event
from local.openvidu import Recording

NODE = "i-0b1c2d3e4f5a6b7c8"  # the instance events/spot-interruption.json names
SPOT_WARNING = Path(__file__).resolve().parents[2] / "events" / "spot-interruption.json"
RECORDINGS = 3


@dataclass
class DrainRun:
    stack: DrillStack
    workdir: Path
    mode: str
    rng: random.Random

    def execute(self) -> dict[str, Any]:
        # The node's recorders name its instance as IMDSv2 would tell them on EC2: through the node's
        # .env, which every recorder reads (OpenVidu passes a container nothing else).
        node_env = self.stack.recordings / ".env"
        text = node_env.read_text()
        if f"HA_INSTANCE_ID={NODE}" not in text:
            with node_env.open("a") as settings:
                settings.write(("" if text.endswith("\n") else "\n") + f"HA_INSTANCE_ID={NODE}\n")
        runs = []
        for number in range(RECORDINGS):
            (self.workdir / f"rec-{number}").mkdir()
            runs.append(
                Run(self.stack, self.workdir / f"rec-{number}", self.mode, random.Random(self.rng.random()))
            )
        recordings: list[Recording] = []
        try:
            runs[0]._wait_for_pool()
            recordings = [run.start() for run in runs]
            for run in runs:
                wait(lambda r=run: len(r.probes.stored_chunks()) >= 2, 90, "each primary's first chunks")
            time.sleep(self.rng.uniform(0, 1) * runs[0].chunk)
            warned_at = time.time()
            put_event(self.stack.client("events"), json.loads(SPOT_WARNING.read_text()))
            results = []
            for run, recording in zip(runs, recordings, strict=True):
                result = {"mode": self.mode, "runtime": self.stack.runtime, "video_id": run.video_id}
                assert recording.container is not None
                results.append(result | run.handover_figures(warned_at, recording.container, "drain"))
            drained = wait(self._empty, 120, "the node to be empty and its drain over", every=0.5)
            drain_s = round(time.time() - warned_at, 2)
            files = [
                run.finish(recording, result)
                for run, recording, result in zip(runs, recordings, results, strict=True)
            ]
        finally:
            for run, recording in zip(runs, recordings, strict=False):
                run.openvidu.kill(recording)
            for run in runs:
                if run.page is not None:
                    run.page.down()
        ok = all(f["ok"] for f in files) and drained["empty"]
        return {
            "mode": self.mode,
            "runtime": self.stack.runtime,
            "ok": ok,
            "drain_s": drain_s,  # the warning to an empty node, its drain over
            "handover_max_s": max(f["handover_s"] for f in files),
            "gap_max_s": max(f["gap_s"] for f in files),
            "overlap_s": max(f["overlap_s"] for f in files),
            "standby": sum(1 for f in files if f.get("standby")),
            "recordings": files,
        }

    def _empty(self) -> dict[str, Any] | None:
        node = requests.get(f"{self.stack.url}/api/hosts/{NODE}", auth=self.stack.auth, timeout=10).json()
        return node if node["empty"] and not node["draining"] else None
