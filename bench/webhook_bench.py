"""Webhook figures.

Targets (issue 5): ingest p99 under 15 ms in-process; 2,000 webhooks relayed end to end to
a local receiver that fails 30% of requests at random: every webhook delivered exactly once
as seen by a receiver that deduplicates on `webhook-id`, none left in the DLQ, and the time.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

import requests

from bench.harness import MotoTimer, local_stack
from bench.receiver import BenchReceiver
from bench.stats import emit, latency_fields


def ingest_inprocess(count: int = 2000) -> dict[str, Any]:
    import boto3
    from moto import mock_aws

    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # a log line per webhook is not a figure
    from webhook.app import WebhookDeps, build_resolver

    from hacore.settings import Settings
    from hacore.webhooks.wiring import build_webhook_parts
    from local.apigw import LocalContext, http_api_event
    from local.provision import create_queues, create_tables
    from local.template import Template

    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        tables, queues = create_tables(dynamodb, Template.load()), create_queues(sqs, Template.load())
        settings = Settings.from_env(
            {
                "SESSIONS_TABLE": tables["SessionsTable"],
                "WEBHOOK_STATS_TABLE": tables["WebhookStatsTable"],
                "WEBHOOK_QUEUE_URL": queues["WebhookQueue"],
                "WEBHOOK_DLQ_URL": queues["WebhookDLQ"],
                "OPENVIDU_WEBHOOK_ENDPOINT": "http://127.0.0.1:9/hooks",
            }
        )
        parts = build_webhook_parts(settings)  # what the ingest Lambda builds, over moto in-process
        resolver = build_resolver(WebhookDeps(parts))
        body = json.dumps(
            {
                "event": "recordingStatusChanged",
                "id": "rec-unknown",
                "sessionId": "s",
                "status": "started",
                "timestamp": 1,
            }
        ).encode()
        latencies, outside_moto = [], []
        with MotoTimer() as moto:
            for n in range(count):
                if n % 50 == 0:  # real SQS does not slow down as a queue fills; moto's model does
                    _consume(sqs, settings.webhook_queue_url)
                event = http_api_event(
                    "POST", "/openvidu/webhook", "", [("Content-Type", "application/json")], body
                )
                moto.seconds = 0.0
                start = time.perf_counter()
                reply = resolver.resolve(event, LocalContext("WebhookFunction"))
                total = time.perf_counter() - start
                latencies.append(total)
                outside_moto.append(total - moto.seconds)
                assert reply["statusCode"] == 200, reply
    total = latency_fields(latencies)
    emit(
        "webhook_ingest_inprocess_total",
        requests=count,
        target_p99_ms=15.0,
        met=total["p99_ms"] < 15.0,
        **total,
    )
    ours = latency_fields(outside_moto)
    return emit(
        "webhook_ingest_inprocess_excluding_moto",
        requests=count,
        target_p99_ms=15.0,
        met=ours["p99_ms"] < 15.0,
        **ours,
    )


def _consume(sqs: Any, url: str | None) -> None:
    """Takes everything off the queue, as the relay would (outside the timed region)."""
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )


def relay_end_to_end(count: int = 2000, failure_rate: float = 0.3) -> dict[str, Any]:
    rng = random.Random(5)
    receiver = BenchReceiver(refuse=lambda: rng.random() < failure_rate)  # 503 at random
    extra = {
        "OPENVIDU_WEBHOOK_ENDPOINT": receiver.url,
        "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "10",
        "OPENVIDU_WEBHOOK_RETRY_DELAY": "50",
        "OPENVIDU_WEBHOOK_SIGNING_SECRET": "bench-secret",
        "DETECTOR_SCHEDULE_SECONDS": "3600",
    }
    try:
        with local_stack(extra) as url:
            began = time.perf_counter()
            http = requests.Session()
            sent = 0
            for n in range(count):
                reply = http.post(
                    f"{url}/openvidu/webhook",
                    timeout=10,
                    json={"event": "participantJoined", "sessionId": f"s{n % 50}", "n": n},
                )
                sent += reply.status_code == 200
            ingest_done = time.perf_counter() - began
            deadline = time.monotonic() + 600
            while len(receiver.accepted) < sent and time.monotonic() < deadline:
                time.sleep(0.5)
            elapsed = time.perf_counter() - began
            time.sleep(2)
            status = requests.get(f"{url}/openvidu/webhook/status", timeout=10).json()
    finally:
        receiver.server.shutdown()
    return emit(
        "webhook_relay_end_to_end",
        webhooks=count,
        accepted_by_ingest=sent,
        failure_rate=failure_rate,
        delivered_unique=len(receiver.accepted),
        duplicate_deliveries=receiver.duplicates,
        refused_attempts=receiver.refused,
        dlq_depth=status["dlqDepth"],
        ingest_s=round(ingest_done, 1),
        total_s=round(elapsed, 1),
        relay_p50_ms=status["latencyP50Ms"],
        relay_p99_ms=status["latencyP99Ms"],
        met=len(receiver.accepted) == count and status["dlqDepth"] == 0,
    )


def run() -> None:
    ingest_inprocess()
    relay_end_to_end()
