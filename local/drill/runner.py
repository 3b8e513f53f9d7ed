"""`python -m local drill`: runs of one fault mode on one drill stack, a JSON line each, and the
summary after several."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sys
import tempfile
import threading
from pathlib import Path

import requests

from hacore.settings import TIMING_PROFILES
from local.drill.drain import DrainRun
from local.drill.faults import FAULTS
from local.drill.fleet import FleetRun
from local.drill.keep import keep_failed, video_ids
from local.drill.run import Run
from local.drill.stack import DrillStack, start_stack, stop_stack
from local.drill.summary import summary


def run_drill(
    runs: int = 1,
    timing: str | None = None,
    mode: str = "kill",
    seed: int | None = None,
    source: str = "synthetic",
    runtime: str = "process",
    keep: Path | None = None,
    hold: bool = False,
) -> list[dict]:
    """`keep`: where a failed run's folder and S3 objects are copied (`local.drill.keep`);
    `hold`: the stack keeps serving after the runs, for the console, until Ctrl-C."""
    timing = timing or os.environ.get("HA_TIMING", "default")
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory(prefix="ovha-drill-") as scratch:
        workdir = Path(scratch)
        settings = {}
        if FAULTS[mode].rotates:  # 4.5 chunks: a rotation lands inside some chunk, after two are stored
            chunk = TIMING_PROFILES[timing]["CHUNK_TIME_SIZE"]
            settings["APP_MAX_RECORDER_AGE"] = str(max(10, int(4.5 * chunk)))
        if FAULTS[mode].redundant:
            settings["APP_REDUNDANT_RECORDING"] = "true"
        stack = start_stack(workdir, timing, settings, runtime=runtime)
        try:
            for number in range(1, runs + 1):
                run_dir = workdir / f"run-{number}"
                run_dir.mkdir()
                try:
                    if FAULTS[mode].fleet:
                        result = FleetRun(stack, run_dir, mode, rng).execute()
                    elif FAULTS[mode].node:
                        result = DrainRun(stack, run_dir, mode, rng).execute()
                    else:
                        result = Run(stack, run_dir, mode, rng, source).execute()
                except (TimeoutError, RuntimeError, requests.RequestException) as error:
                    result = {"ok": False, "mode": mode, "runtime": runtime, "error": str(error)}
                result = {"run": number, "timing": timing, **result}
                if keep is not None and not result.get("ok"):
                    result["kept"] = str(keep_failed(stack, run_dir, result, keep))
                print(json.dumps(result), flush=True)
                results.append(result)
            if hold:
                hold_for_the_console(stack, results)
        finally:
            stop_stack(stack)
    if runs > 1:
        line = summary(results, timing, mode) | {"runtime": runtime}
        print(json.dumps(line), flush=True)
    return results


def hold_for_the_console(stack: DrillStack, results: list[dict]) -> None:
    """Prints where each run's recording is on the operator console, and serves until Ctrl-C."""
    pages = [
        f"{stack.url}/console#/recording/{video_id}" for result in results for video_id in video_ids(result)
    ]
    user, password = stack.auth
    print(
        json.dumps(
            {"console": f"{stack.url}/console", "user": user, "password": password, "recordings": pages}
        ),
        flush=True,
    )
    print("the drill's stack serves until Ctrl-C", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()
