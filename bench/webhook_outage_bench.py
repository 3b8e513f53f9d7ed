"""Webhook delivery through a day's outage of the customer's receiver (issue 14).

1,000 webhooks over 50 recordings (20 each, numbered) go through the local stack's ingest to a
receiver that answers 503 for a scaled 24 hours (OPENVIDU_WEBHOOK_TIME_SCALE=600: 144 real
seconds stand for a day, long enough for the local stack's ingest to take all 1,000 webhooks
during the outage) and then comes back. Targets: every webhook delivered once (by `webhook-id`),
each recording's webhooks in the order they were sent, none in the DLQ. Figures: the time from
the receiver's recovery to the last delivery, and the requests the outage cost the receiver
(probes and first failures, against 1,000 webhooks each retried on its own schedule).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from bench.harness import local_stack
from bench.receiver import BenchReceiver
from bench.stats import emit

SCALE = 600  # a day in 144 s
DAY_S = 86_400 / SCALE


def out_of_order(bodies: list[dict[str, Any]]) -> int:
    """Recordings whose webhooks did not arrive in the order they were sent."""
    by_recording: dict[str, list[int]] = {}
    for body in bodies:
        by_recording.setdefault(body["id"], []).append(body["seq"])
    return sum(seqs != sorted(seqs) for seqs in by_recording.values())


def relay_through_outage(recordings: int = 50, per_recording: int = 20) -> dict[str, Any]:
    down = threading.Event()
    down.set()
    receiver = BenchReceiver(refuse=down.is_set)  # 503 while the outage lasts
    count = recordings * per_recording
    extra = {
        "OPENVIDU_WEBHOOK_ENDPOINT": receiver.url,
        "OPENVIDU_WEBHOOK_SIGNING_SECRET": "bench-secret",
        "OPENVIDU_WEBHOOK_TIME_SCALE": str(SCALE),
        "DETECTOR_SCHEDULE_SECONDS": "3600",
    }
    health_seen: list[str] = []
    watching = threading.Event()
    try:
        with local_stack(extra) as url:
            http = requests.Session()
            began = time.monotonic()

            def watch() -> None:  # the status endpoint through the outage, as an operator sees it
                status_http = requests.Session()
                while not watching.is_set():
                    health = status_http.get(f"{url}/openvidu/webhook/status", timeout=10).json()["health"]
                    if not health_seen or health_seen[-1] != health:
                        health_seen.append(health)
                    watching.wait(1)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            sent = 0
            for seq in range(per_recording):
                for n in range(recordings):
                    reply = http.post(
                        f"{url}/openvidu/webhook",
                        timeout=10,
                        json={
                            "event": "recordingStatusChanged",
                            "id": f"rec-{n}",
                            "sessionId": f"rec-{n}",
                            "status": "started",
                            "seq": seq,
                        },
                    )
                    sent += reply.status_code == 200
            ingest_s = time.monotonic() - began
            time.sleep(max(0.0, DAY_S - (time.monotonic() - began)))  # the rest of the scaled day
            outage_requests = receiver.refused
            down.clear()
            recovered = time.monotonic()
            deadline = recovered + 300
            while len(receiver.accepted) < sent and time.monotonic() < deadline:
                time.sleep(0.2)
            to_last = receiver.last_delivery - recovered
            time.sleep(2)
            watching.set()
            watcher.join()
            status = http.get(f"{url}/openvidu/webhook/status", timeout=10).json()
    finally:
        watching.set()
        receiver.server.shutdown()
    return emit(
        "webhook_relay_through_a_days_outage",
        webhooks=count,
        recordings=recordings,
        accepted_by_ingest=sent,
        ingest_s=round(ingest_s, 1),
        ingest_within_outage=ingest_s < DAY_S,
        time_scale=f"1 s stands for {SCALE} s (a day in {DAY_S:.0f} s)",
        outage_scaled_h=24,
        receiver_requests_during_outage=outage_requests,
        endpoint_health_seen=health_seen,
        delivered_unique=len(receiver.accepted),
        duplicate_deliveries=receiver.duplicates,
        recordings_out_of_order=out_of_order(receiver.first),
        dlq_depth=status["dlqDepth"],
        recovery_to_last_delivery_s=round(to_last, 1),
        met=ingest_s < DAY_S
        and len(receiver.accepted) == count
        and receiver.duplicates == 0
        and out_of_order(receiver.first) == 0
        and status["dlqDepth"] == 0,
    )


def run() -> None:
    relay_through_outage()
