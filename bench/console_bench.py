"""The operator console's two pages, timed in a real browser (Debian's chromium, playwright) on
the local stack, with a drill's recording in it (a recorder SIGKILLed, taken over, finalized from
two recorders): from the address typed to the page drawn (`main[data-ready]`: every JSON route it
reads answered and rendered). Each load is a fresh browser context, so nothing is cached; the
first load also pays the stack's cold starts of the routes it calls. Target: under 1 s each."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from local.drill.run import Run
from local.drill.stack import start_stack, stop_stack

LOADS = 10
TARGET_MS = 1000


def timed_loads(browser: Any, url: str, auth: tuple[str, str], page_name: str) -> list[float]:
    times = []
    for _ in range(LOADS):
        context = browser.new_context(
            viewport={"width": 1280, "height": 720},
            http_credentials={"username": auth[0], "password": auth[1]},
        )
        page = context.new_page()
        began = time.perf_counter()
        page.goto(url)
        page.wait_for_selector(f"main[data-ready='{page_name}']", timeout=30_000)
        times.append((time.perf_counter() - began) * 1000)
        context.close()
    return times


def run() -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        print(json.dumps({"bench": "console", "skipped": "chromium is not installed (make installs it)"}))
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="ovha-console-bench-") as scratch:
        stack = start_stack(Path(scratch), "fast")
        try:
            (Path(scratch) / "kill").mkdir()
            result = Run(stack, Path(scratch) / "kill", "kill", random.Random(5)).execute()
            pages = {
                "fleet": f"{stack.url}/console#/",
                "recording": f"{stack.url}/console#/recording/{result['video_id']}",
            }
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
                for name, url in pages.items():
                    times = timed_loads(browser, url, stack.auth, name)
                    print(
                        json.dumps(
                            {
                                "bench": "console",
                                "page": name,
                                "loads": LOADS,
                                "first_ms": round(times[0]),
                                "p50_ms": round(statistics.median(times)),
                                "max_ms": round(max(times)),
                                "target_ms": TARGET_MS,
                                "met": max(times) < TARGET_MS,
                            }
                        ),
                        flush=True,
                    )
                browser.close()
        finally:
            stop_stack(stack)
