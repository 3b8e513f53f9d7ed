"""Sessions API figures: heartbeats through the local gateway and in-process, and the cold import.

Targets (issue 2, issue 24): the API module's cold import + client setup at most 1.5x a bare boto3
client setup in the same run; in-process heartbeat handling under 2 ms p50, moto's own
time excluded.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

import requests

from bench.harness import PASSWORD, USER, CallCounter, MotoTimer, local_stack
from bench.stats import emit, latency_fields
from local import FUNCTIONS


def _register_body(sid: str) -> dict[str, Any]:
    return {
        "sessionId": sid,
        "clientId": "recorder-bench",
        "status": "started",
        "environment": {"videoId": sid, "videoName": "bench", "videoFormat": "mp4"},
    }


# --- through the local gateway --------------------------------------------------------


def gateway_heartbeats(clients: int, seconds: float) -> dict[str, Any]:
    """Starts `python -m local up` in its own process and hammers it with `clients` threads."""
    with local_stack() as url:
        sids = [f"bench_{clients}_{n}" for n in range(clients)]
        for sid in sids:
            requests.post(f"{url}/api/sessions", json=_register_body(sid), auth=(USER, PASSWORD), timeout=10)
        latencies: list[float] = []
        errors = 0
        lock = threading.Lock()
        stop_at = time.perf_counter() + seconds

        def client(sid: str) -> None:
            nonlocal errors
            http = requests.Session()
            http.auth = (USER, PASSWORD)
            mine, bad, chunk = [], 0, 0
            while time.perf_counter() < stop_at:
                chunk += 1
                start = time.perf_counter()
                reply = http.put(
                    f"{url}/api/sessions/{sid}/heartbeat", json={"lastChunk": f"{chunk:04d}.mp4"}, timeout=10
                )
                mine.append(time.perf_counter() - start)
                bad += reply.status_code != 200
            with lock:
                latencies.extend(mine)
                errors += bad

        threads = [threading.Thread(target=client, args=(sid,)) for sid in sids]
        began = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
    return emit(
        "heartbeat_http",
        clients=clients,
        seconds=round(elapsed, 2),
        requests=len(latencies),
        errors=errors,
        per_s=round(len(latencies) / elapsed, 1),
        **latency_fields(latencies),
    )


# --- in process -----------------------------------------------------------------------


def inprocess_heartbeats(count: int) -> dict[str, Any]:
    """The real handler, called with v2 events, over moto in-process; moto's own time measured apart."""
    import boto3
    from moto import mock_aws

    from api.app import Api, ApiDeps
    from hacore.auth import CredentialSource
    from hacore.sessions.store import SessionStore
    from hacore.settings import Settings
    from local.apigw import LocalContext, http_api_event
    from local.provision import create_tables, physical_name
    from local.template import Template

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(dynamodb, Template.load())
        table = physical_name("SessionsTable")
        settings = Settings.from_env(
            {"HA_CONTROLLER_USERNAME": USER, "HA_CONTROLLER_PASSWORD": PASSWORD, "SESSIONS_TABLE": table}
        )
        counter = CallCounter(dynamodb)
        api = Api(ApiDeps(settings, SessionStore(counter, table, settings), CredentialSource(settings)))
        import base64
        import json

        auth = ("Authorization", "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode())
        register = http_api_event(
            "POST", "/api/sessions", "", [auth], json.dumps(_register_body("inproc")).encode()
        )
        assert api(register, LocalContext("bench"))["statusCode"] == 201
        totals, outside_moto, calls = [], [], []
        with MotoTimer() as moto:
            for n in range(count):
                body = json.dumps({"lastChunk": f"{n:04d}.mp4"}).encode()
                event = http_api_event(
                    "PUT",
                    "/api/sessions/inproc/heartbeat",
                    "",
                    [auth, ("Content-Type", "application/json")],
                    body,
                )
                moto.seconds, counter.calls = 0.0, 0
                start = time.perf_counter()
                reply = api(event, LocalContext("bench"))
                total = time.perf_counter() - start
                assert reply["statusCode"] == 200, reply
                totals.append(total)
                outside_moto.append(total - moto.seconds)
                calls.append(counter.calls)
    emit(
        "heartbeat_inprocess_total",
        requests=count,
        per_s=round(count / sum(totals), 1),
        **latency_fields(totals),
    )
    steady = calls[1:]  # the first heartbeat is the session's first chunk: STARTING to RECORDING
    emit(
        "heartbeat_dynamodb_calls",
        requests=count,
        steady_calls_per_heartbeat=round(sum(steady) / len(steady), 3),
        first_heartbeat_calls=calls[0],
        target=1,
        met=max(steady) == 1,
    )
    fields = latency_fields(outside_moto)
    return emit(
        "heartbeat_inprocess_excluding_moto",
        requests=count,
        target_p50_ms=2.0,
        met=fields["p50_ms"] < 2.0,
        **fields,
    )


# --- cold import ----------------------------------------------------------------------

BASELINE = "import boto3; boto3.client('dynamodb', region_name='us-east-1')"
API_MODULE = "import api.app"
# What the design's libraries alone cost on top of the baseline (pydantic for the models, powertools
# for the routing, validation, logging and metrics): the floor under any API module built on them.
LIBRARIES = (
    BASELINE + "; from pydantic import BaseModel"
    "; from aws_lambda_powertools.event_handler import APIGatewayHttpResolver"
    "; from aws_lambda_powertools import Logger, Metrics"
)


def _time_import(code: str) -> float:
    probe = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    # APP_PROFILE=prod: the template's default, so the module as deployed (no Swagger UI routes).
    env = os.environ | {
        "PYTHONPATH": str(FUNCTIONS),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SESSIONS_TABLE": "bench",
        "APP_PROFILE": "prod",
    }
    output = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    return float(output.stdout.strip())


def cold_import(rounds: int = 9) -> dict[str, Any]:
    """Each figure is a fresh interpreter; the two alternate so that machine noise hits both alike."""
    _time_import(API_MODULE)  # compile the .pyc files once: a Lambda package ships them compiled
    baseline, libraries, api = [], [], []
    for _ in range(rounds):
        baseline.append(_time_import(BASELINE))
        libraries.append(_time_import(LIBRARIES))
        api.append(_time_import(API_MODULE))
    base_ms, api_ms = statistics.median(baseline) * 1000, statistics.median(api) * 1000
    floor_ms = statistics.median(libraries) * 1000
    return emit(
        "cold_import",
        rounds=rounds,
        boto3_client_ms=round(base_ms, 1),
        api_module_ms=round(api_ms, 1),
        ratio=round(api_ms / base_ms, 3),
        target_ratio=1.5,
        libraries_floor_ms=round(floor_ms, 1),
        libraries_floor_ratio=round(floor_ms / base_ms, 3),
    )


BREAKDOWN = """
import time
marks = [time.perf_counter()]
import boto3; marks.append(time.perf_counter())
boto3.client("dynamodb", region_name="us-east-1"); marks.append(time.perf_counter())
from pydantic import BaseModel; marks.append(time.perf_counter())
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; marks.append(time.perf_counter())
import hacore.models, hacore.settings, hacore.sessions.store; marks.append(time.perf_counter())
import api.app; marks.append(time.perf_counter())
print(" ".join(str(b - a) for a, b in zip(marks, marks[1:])))
"""
STAGES = (
    "boto3_import",
    "dynamodb_client",
    "pydantic",
    "powertools_event_handler",
    "hacore_modules",
    "api_module_rest",
)


def cold_import_breakdown(rounds: int = 5) -> dict[str, Any]:
    """Where the API module's cold start goes, stage by stage (medians of fresh interpreters)."""
    env = os.environ | {
        "PYTHONPATH": str(FUNCTIONS),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "SESSIONS_TABLE": "bench",
        "APP_PROFILE": "prod",
    }
    samples = []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, "-c", BREAKDOWN], env=env, capture_output=True, text=True, check=True
        )
        samples.append([float(x) for x in out.stdout.split()])
    medians = {
        name: round(statistics.median(col) * 1000, 1)
        for name, col in zip(STAGES, zip(*samples, strict=True), strict=True)
    }
    return emit("cold_import_breakdown_ms", **medians)


def run() -> None:
    cold_import()
    cold_import_breakdown()
    inprocess_heartbeats(2000)
    for clients in (1, 16):
        gateway_heartbeats(clients, seconds=5)
