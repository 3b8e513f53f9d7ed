"""Failover figures.

Targets (issue 3): detection-to-launch p95 under timeout + check interval + 1 s in the
local stack with 20 sessions failing at random moments; a sweep over 10,000 healthy
sessions and 10 stale ones reads in proportion to the stale ones and takes under 2 s
against moto.
"""

from __future__ import annotations

import contextlib
import io
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from bench.harness import PASSWORD, USER, local_stack
from bench.stats import emit, latency_fields
from hacore.launchers.process import kill_recorded


def detection_to_launch(sessions: int = 20, seed: int = 7) -> dict[str, Any]:
    """Recorders heartbeat over HTTP, each dies at a random moment; the scheduled detector launches."""
    rng = random.Random(seed)
    state = Path(tempfile.mkdtemp(prefix="ovha-bench-backups-"))
    last_beat: dict[str, float] = {}
    extra = {
        "HA_TIMING": "fast",
        "APP_PROCESS_STATE_DIR": str(state),
        # What is launched does not matter here, only when: a backup that just waits.
        "APP_PROCESS_BACKUP_COMMAND": f"{sys.executable} -c 'import time; time.sleep(90)'",
    }
    try:
        with local_stack(extra) as url:
            status = requests.get(f"{url}/api/failover/status", auth=(USER, PASSWORD), timeout=10).json()
            timeout_s, interval_s = status["heartbeatTimeoutSeconds"], status["checkIntervalMs"] / 1000
            beat_every = status["heartbeatIntervalSeconds"]

            def recorder(sid: str, lives_for: float) -> None:
                http = requests.Session()
                http.auth = (USER, PASSWORD)
                http.post(
                    f"{url}/api/sessions",
                    json={"sessionId": sid, "clientId": "bench", "status": "started"},
                    timeout=10,
                )
                born, chunk = time.monotonic(), 0
                while time.monotonic() - born < lives_for:
                    beat = http.put(
                        f"{url}/api/sessions/{sid}/heartbeat",
                        json={"epoch": 1, "lastChunk": f"{chunk:04d}.mp4"},
                        timeout=10,
                    )
                    if beat.ok:  # the clock starts at the last heartbeat that landed
                        last_beat[sid] = time.time()
                    chunk += 1
                    time.sleep(beat_every)

            ids = [f"bench_fail_{n}" for n in range(sessions)]
            threads = [threading.Thread(target=recorder, args=(sid, rng.uniform(3, 20))) for sid in ids]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + timeout_s + interval_s + 30
            launched: dict[str, float] = {}
            while len(launched) < sessions and time.monotonic() < deadline:
                for sid in ids:
                    if sid in launched:
                        continue
                    failovers = (
                        requests.get(f"{url}/api/sessions/{sid}", auth=(USER, PASSWORD), timeout=10)
                        .json()
                        .get("failovers")
                        or []
                    )
                    if failovers and failovers[0].get("launchedAt"):
                        launched[sid] = failovers[0]["launchedAt"]
                time.sleep(0.5)
    finally:
        kill_recorded(state)  # a safety net: the stack stops its backups itself
    delays = [launched[sid] - last_beat[sid] for sid in launched]
    target = timeout_s + interval_s + 1
    fields = latency_fields(delays)
    return emit(
        "failover_detection_to_launch",
        sessions=sessions,
        launched=len(launched),
        heartbeat_timeout_s=timeout_s,
        check_interval_s=interval_s,
        target_p95_s=target,
        p50_s=round(fields["p50_ms"] / 1000, 2),
        p95_s=round(fields["p95_ms"] / 1000, 2),
        max_s=round(max(delays), 2) if delays else None,
        met=bool(delays) and len(launched) == sessions and fields["p95_ms"] / 1000 < target,
    )


class CountingDynamoDB:
    """Counts the items each read returns: query items, get_item hits, batch_get items."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.items_read = 0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "get_paginator":

            def paginator(op: str) -> Any:
                real = attribute(op)
                counter = self

                class Counted:
                    def paginate(self, **kw: Any) -> Any:
                        for page in real.paginate(**kw):
                            counter.calls += 1
                            counter.items_read += page.get("Count", 0)
                            yield page

                return Counted()

            return paginator
        if name == "get_item":

            def get_item(**kw: Any) -> Any:
                reply = attribute(**kw)
                self.calls += 1
                self.items_read += 1 if "Item" in reply else 0
                return reply

            return get_item
        return attribute


def sweep_at_scale(healthy: int = 10_000, stale: int = 10) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    from hacore.chunks import ChunkIndex
    from hacore.failover.engine import FailoverEngine
    from hacore.launchers.process import ProcessLauncher
    from hacore.models import SessionRecord, Status
    from hacore.sessions.item import to_item
    from hacore.sessions.store import SessionStore
    from hacore.settings import Settings
    from local.provision import create_tables, physical_name
    from local.template import Template

    with mock_aws(), tempfile.TemporaryDirectory() as state:
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, Template.load())
        table = physical_name("SessionsTable")
        settings = Settings.from_env({"SESSIONS_TABLE": table})
        now = time.time()
        for start in range(0, healthy + stale, 25):
            batch = []
            for n in range(start, min(start + 25, healthy + stale)):
                silent_for = 100 if n >= healthy else 2
                record = SessionRecord(
                    sessionId=f"s{n:05d}",
                    clientId="bench",
                    status=Status.RECORDING,
                    createdAt=now - 500,
                    updatedAt=now,
                    lastHeartbeatAt=now - silent_for,
                    lastChunk="0010.mp4",
                    lastChunkIndex=10,
                    lastChunkChangedAt=now - silent_for,
                    expiresAt=int(now + 600),
                )
                batch.append({"PutRequest": {"Item": to_item(record)}})
            dynamodb.batch_write_item(RequestItems={table: batch})
        counting = CountingDynamoDB(dynamodb)
        store = SessionStore(counting, table, settings)
        launcher = ProcessLauncher(["true"], Path(state), {})
        engine = FailoverEngine(store, launcher, ChunkIndex(None, None), settings)
        began = time.perf_counter()
        # the engine writes its EMF metric lines to stdout, as in Lambda; here stdout is the figures
        with contextlib.redirect_stdout(io.StringIO()):
            report = engine.sweep()
        wall = time.perf_counter() - began
    return emit(
        "failover_sweep_at_scale",
        healthy_sessions=healthy,
        stale_sessions=stale,
        takeovers=len(report.takeovers),
        items_read=counting.items_read,
        read_calls=counting.calls,
        wall_s=round(wall, 3),
        target_s=2.0,
        met=wall < 2.0 and len(report.takeovers) == stale,
    )


def run() -> None:
    sweep_at_scale()
    detection_to_launch()
