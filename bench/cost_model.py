"""`make cost`: what the control plane costs to run, modelled from the template and a price table.

Nothing here is measured. The prices are AWS's public list prices for us-east-1 (`PRICES`, with
the date they were read); the per-call figures no local run can give (a heartbeat's billed Lambda
time, the size of a session item, webhooks per recording) are named assumptions (`Model`). The
rest comes from template.yaml (memory, architecture, the detector's schedule and timeout, the
recorder task's size) and from the timing profiles in hacore/settings/failover.py. Change any of them and
run it again. The recorder's own compute (the media node, or a backup's Fargate task while it
records) is the customer's media bill, not the control plane's, and is left out; so are storage,
data transfer and logs.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, dataclass, field

import local  # noqa: F401 - puts functions/ on the path
from hacore.sessions.item import SHARDS
from hacore.settings import TIMING_PROFILES, Settings
from local.template import Template

PRICES_READ = "AWS list prices for us-east-1, as published in 2025"


@dataclass(frozen=True)
class Prices:
    http_api_per_million: float = 1.00  # first 300 million a month
    lambda_requests_per_million: float = 0.20
    lambda_gb_second: dict[str, float] = field(
        default_factory=lambda: {"x86_64": 0.0000166667, "arm64": 0.0000133334}
    )
    snapstart_cache_gb_second: float = 0.0000015046  # per published SnapStart version, all the time
    dynamodb_write_per_million: float = 0.625  # on-demand write request units
    dynamodb_read_per_million: float = 0.125  # on-demand read request units
    sqs_fifo_per_million: float = 0.50  # FIFO queue requests (the webhook queue is FIFO)
    secret_per_month: float = 0.40  # a Secrets Manager secret
    s3_put_per_thousand: float = 0.005  # PUT, COPY, POST, LIST
    s3_get_per_thousand: float = 0.0004  # GET, HEAD
    fargate_vcpu_hour: dict[str, float] = field(default_factory=lambda: {"x86_64": 0.04048, "arm64": 0.03238})
    fargate_gb_hour: dict[str, float] = field(default_factory=lambda: {"x86_64": 0.004445, "arm64": 0.00356})


@dataclass(frozen=True)
class Model:
    """The assumptions, each named: what no run here can measure."""

    api_billed_ms: float = 10  # a heartbeat: ~2 ms of our code (make bench) plus DynamoDB's round trip
    webhook_billed_ms: float = 20  # the ingest: parse, one SQS send
    relay_billed_ms: float = 150  # the relay: the customer's endpoint answering in about 100 ms
    session_item_kb: float = 2.0  # a session item with its recording JSON and history
    heartbeat_index_writes: int = 2  # WatchByHeartbeat's key moves: a delete and a put in the index
    chunk_index_writes: int = 2  # WatchByChunk's key moves once a chunk
    webhooks_per_recording: int = 6  # sessionCreated, recordingStatusChanged x3, sessionDestroyed, one more
    recording_hours: float = 1.0  # the length of a recording: the per-recording costs spread over it
    bitrate_mbps: float = 2.5  # a composed 720p recording, for the final file's multipart upload
    multipart_mb: int = 8  # boto3's default part size
    standby_poll_s: float = 0.3  # recorder/standby.py's STANDBY_POLL_INTERVAL default
    sweep_index_queries: int = 3 * SHARDS  # a sweep: stale by heartbeat, stale by chunk, quiet ids


@dataclass(frozen=True)
class Inputs:
    """What the template and a timing profile say."""

    profile: str
    heartbeat_s: float
    chunk_s: float
    check_interval_s: float
    detector_budget_s: float
    architecture: str
    lambda_gb: float
    detector_gb: float
    task_vcpu: float
    task_gb: float
    snapstart_functions: int

    @classmethod
    def read(cls, profile: str, template: Template | None = None) -> Inputs:
        template = template or Template.load()
        timing = TIMING_PROFILES[profile]
        functions = template.resources("AWS::Serverless::Function")
        default_mb = template.body["Globals"]["Function"]["MemorySize"]
        task = template.resources("AWS::ECS::TaskDefinition")["RecorderTaskDefinition"]["Properties"]
        return cls(
            profile=profile,
            heartbeat_s=timing["HEARTBEAT_INTERVAL"],
            chunk_s=timing["CHUNK_TIME_SIZE"],
            check_interval_s=timing["APP_FAILOVER_CHECK_INTERVAL"],
            detector_budget_s=Settings.from_env({"HA_TIMING": profile}).detector_budget_s,
            architecture=template.parameter_default("Architecture"),
            lambda_gb=functions["ApiFunction"]["Properties"].get("MemorySize", default_mb) / 1024,
            detector_gb=functions["DetectorFunction"]["Properties"].get("MemorySize", default_mb) / 1024,
            task_vcpu=int(task["Cpu"]) / 1024,
            task_gb=int(task["Memory"]) / 1024,
            snapstart_functions=sum(1 for f in functions.values() if "SnapStart" in f["Properties"]),
        )


def _lambda(calls: float, billed_ms: float, gb: float, arch: str, p: Prices) -> float:
    return (
        calls * p.lambda_requests_per_million / 1e6 + calls * billed_ms / 1000 * gb * p.lambda_gb_second[arch]
    )


def per_recording_hour(i: Inputs, p: Prices, m: Model) -> dict[str, float]:
    """Dollars for one hour of one recording, by line item."""
    heartbeats = 3600 / i.heartbeat_s
    chunks = 3600 / i.chunk_s
    item_wru = math.ceil(m.session_item_kb)
    webhooks = m.webhooks_per_recording / m.recording_hours
    final_parts = math.ceil(m.bitrate_mbps / 8 * 3600 * m.recording_hours / m.multipart_mb)
    # the detector's once-a-minute census reads every watched key (about 100 bytes each)
    census_rru = 60 * 100 / 4096 * 0.5
    return {
        "API Gateway (heartbeats, webhooks)": (heartbeats + webhooks) * p.http_api_per_million / 1e6,
        "Lambda (API, ingest, relay)": _lambda(heartbeats, m.api_billed_ms, i.lambda_gb, i.architecture, p)
        + _lambda(webhooks, m.webhook_billed_ms, i.lambda_gb, i.architecture, p)
        + _lambda(webhooks, m.relay_billed_ms, i.lambda_gb, i.architecture, p),
        "DynamoDB (heartbeat writes, chunk index, webhooks)": (
            heartbeats * (item_wru + m.heartbeat_index_writes)
            + chunks * m.chunk_index_writes
            + webhooks * (2 + item_wru)  # the relay's two counters, one session effect
        )
        * p.dynamodb_write_per_million
        / 1e6
        # per webhook: the session effect's read and the endpoint's health (healthy: no write)
        + (2 * webhooks + census_rru) * p.dynamodb_read_per_million / 1e6,
        "SQS FIFO (send, receive, delete per webhook)": webhooks * 3 * p.sqs_fifo_per_million / 1e6,
        "S3 requests (chunk PUT + fence HEAD, finalize)": chunks * p.s3_put_per_thousand / 1e3
        + chunks * p.s3_get_per_thousand / 1e3  # the fence marker's HEAD before each upload
        + (chunks * p.s3_get_per_thousand / 1e3)  # finalize reads every chunk once
        + (final_parts + 2) / m.recording_hours * p.s3_put_per_thousand / 1e3,  # parts, LIST, final PUT
    }


def fixed_per_month(i: Inputs, p: Prices, m: Model) -> dict[str, float]:
    """What the stack costs with no recording at all."""
    runs = 60 * 24 * 30  # EventBridge: one detector run a minute; it sweeps (and waits) for its budget
    sweeps = runs * max(1, math.floor(i.detector_budget_s / i.check_interval_s) + 1)
    seconds = 30 * 24 * 3600
    return {
        "detector Lambda (one run a minute, busy for its budget)": _lambda(
            runs, i.detector_budget_s * 1000, i.detector_gb, i.architecture, p
        ),
        # a sweep's index queries, and the census's count per shard once a run: eventually
        # consistent, half a read unit each at least (a healthy fleet's queries return nothing)
        "detector index queries": (sweeps * m.sweep_index_queries + runs * SHARDS)
        * 0.5
        * p.dynamodb_read_per_million
        / 1e6,
        "Secrets Manager (API credentials, webhook token)": 2 * p.secret_per_month,
        "SnapStart snapshot caching (API, webhook ingest)": i.snapstart_functions
        * i.lambda_gb
        * seconds
        * p.snapstart_cache_gb_second,
    }


def standby_per_month(i: Inputs, p: Prices, m: Model) -> dict[str, float]:
    """One warm standby: its Fargate task idling, and its polls (each one read and one write)."""
    hours = 24 * 30
    polls = hours * 3600 / m.standby_poll_s
    return {
        "Fargate task, idle and warm": hours
        * (i.task_vcpu * p.fargate_vcpu_hour[i.architecture] + i.task_gb * p.fargate_gb_hour[i.architecture]),
        "its polls: API Gateway": polls * p.http_api_per_million / 1e6,
        "its polls: Lambda": _lambda(polls, m.api_billed_ms, i.lambda_gb, i.architecture, p),
        "its polls: DynamoDB (a read and a write each)": polls
        * (p.dynamodb_read_per_million + p.dynamodb_write_per_million)
        / 1e6,
    }


def redundant_per_recording_hour(i: Inputs, p: Prices, m: Model) -> dict[str, float]:
    """What redundant recording adds to one recording-hour: its shadow, a second recorder as a
    Fargate task for the whole recording, heartbeating (each beat a DynamoDB write, as the owner's)
    and storing its chunks (a PUT and a fence HEAD each; their storage, briefly, is not counted)."""
    heartbeats = 3600 / i.heartbeat_s
    chunks = 3600 / i.chunk_s
    return {
        "its Fargate task, recording": i.task_vcpu * p.fargate_vcpu_hour[i.architecture]
        + i.task_gb * p.fargate_gb_hour[i.architecture],
        "its heartbeats: API Gateway, Lambda": heartbeats * p.http_api_per_million / 1e6
        + _lambda(heartbeats, m.api_billed_ms, i.lambda_gb, i.architecture, p),
        "its heartbeats: DynamoDB writes": heartbeats
        * math.ceil(m.session_item_kb)
        * p.dynamodb_write_per_million
        / 1e6,
        "its chunks: S3 PUT and fence HEAD": chunks * (p.s3_put_per_thousand + p.s3_get_per_thousand) / 1e3,
    }


def report(profile: str, prices: Prices | None = None, model: Model | None = None) -> dict[str, object]:
    prices, model = prices or Prices(), model or Model()
    inputs = Inputs.read(profile)
    per_hour = per_recording_hour(inputs, prices, model)
    per_thousand = {k: round(v * 1000, 2) for k, v in per_hour.items()}
    standby = {k: round(v, 2) for k, v in standby_per_month(inputs, prices, model).items()}
    fixed = {k: round(v, 2) for k, v in fixed_per_month(inputs, prices, model).items()}
    redundant = redundant_per_recording_hour(inputs, prices, model)
    return {
        "profile": profile,
        "inputs": asdict(inputs),
        "per_1000_recording_hours": per_thousand,
        "per_1000_recording_hours_total": round(sum(per_hour.values()) * 1000, 2),
        "standby_per_month": standby,
        "standby_per_month_total": round(sum(standby.values()), 2),
        "fixed_per_month": fixed,
        "fixed_per_month_total": round(sum(fixed.values()), 2),
        "redundant_per_1000_recording_hours": {k: round(v * 1000, 2) for k, v in redundant.items()},
        "redundant_per_1000_recording_hours_total": round(sum(redundant.values()) * 1000, 2),
    }


def _table(title: str, rows: dict[str, float], total: float) -> list[str]:
    width = max(len(k) for k in rows) + 2
    lines = [title]
    lines += [f"  {name:<{width}} ${value:>9,.2f}" for name, value in rows.items()]
    lines.append(f"  {'total':<{width}} ${total:>9,.2f}")
    return lines


def main() -> int:
    print(f"Control-plane cost model ({PRICES_READ}; modelled, not measured: bench/cost_model.py)")
    print("Prices: " + json.dumps(asdict(Prices())))
    print("Assumptions: " + json.dumps(asdict(Model())))
    for profile in ("default", "fast"):
        figures = report(profile)
        print()
        print(f"== timing profile {profile}: " + json.dumps(figures["inputs"]))
        for title, key in (
            ("per 1,000 recording-hours", "per_1000_recording_hours"),
            ("one warm standby, per month", "standby_per_month"),
            ("fixed, per month (no recordings)", "fixed_per_month"),
            ("redundant recording adds, per 1,000 recording-hours", "redundant_per_1000_recording_hours"),
        ):
            print("\n".join(_table(title, figures[key], figures[f"{key}_total"])))  # type: ignore[arg-type]
        totals = (
            "per_1000_recording_hours_total",
            "standby_per_month_total",
            "fixed_per_month_total",
            "redundant_per_1000_recording_hours_total",
        )
        print(json.dumps({"cost": {"profile": profile} | {k: figures[k] for k in totals}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
