"""What the benchmarks share: a local stack in its own process, and moto's own time measured apart."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from local import ROOT

USER, PASSWORD = "bench", "bench-password"


@contextmanager
def local_stack(extra_env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[str]:
    """`python -m local up` in its own process (as `make up` runs it); yields its URL. `log`: where
    its output goes (for figures only the stack knows), else nowhere."""
    from local.runtime import free_port, wait_until_serving

    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT", "HA_CONTROLLER_", "OPENVIDU_"))
    }
    env |= {
        "PORT": str(port),
        "HA_CONTROLLER_USERNAME": USER,
        "HA_CONTROLLER_PASSWORD": PASSWORD,
        **(extra_env or {}),
    }
    stack = subprocess.Popen(
        [sys.executable, "-m", "local", "up"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb") if log else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if log else subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, stack)
        yield url
    finally:
        stack.terminate()
        try:
            stack.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stack.kill()


class MotoTimer:
    """Adds up the time spent inside moto's in-process backend (botocore's stubbed send), so a
    figure can be given with and without it. Use as a context manager around the timed loop."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original: Any = None

    def __enter__(self) -> MotoTimer:
        from moto.core.botocore_stubber import BotocoreStubber

        original = self._original = BotocoreStubber.__call__
        timer = self

        def timed_call(stubber: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(stubber, *args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - start

        BotocoreStubber.__call__ = timed_call  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.__call__ = self._original  # type: ignore[method-assign]


class CallCounter:
    """A boto3 client that counts the API calls made through it (paginators count per page)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("get_paginator", "exceptions"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return attribute(*args, **kwargs)

        return counted
