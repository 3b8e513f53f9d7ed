"""The webhook path of the local stack over real HTTP: OpenVidu posts to the gateway, the relay
worker polls the local queue and delivers to a real receiver; the DLQ is listed and redriven
through the API and the `python -m local dlq` command, as an operator would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hacore.webhooks.signing import verify
from local.receiver import Receiver
from local.runtime import free_port
from tests.helpers import register_body
from tests.integration.conftest import ROOT, RunningStack, start_stack, stop_stack

SECRET = "whsec_bG9jYWwtc3RhY2stc2lnbmluZy1rZXktZm9yLXRlc3Q="
TOKEN = "openvidu-says-hello"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver(free_port())
    running.up()
    yield running
    running.down()


@pytest.fixture(scope="module")
def relay_stack(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[RunningStack]:
    running = start_stack(
        tmp_path_factory.mktemp("relay-stack"),
        {
            "OPENVIDU_WEBHOOK_ENDPOINT": receiver.url,
            "OPENVIDU_WEBHOOK_SIGNING_SECRET": SECRET,
            "OPENVIDU_WEBHOOK_INBOUND_TOKEN": TOKEN,
            "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "2",
            "OPENVIDU_WEBHOOK_RETRY_DELAY": "0",
            "DETECTOR_SCHEDULE_SECONDS": "3600",
        },
    )
    yield running
    stop_stack(running)


def post_webhook(stack: RunningStack, event: dict[str, Any], token: str | None = TOKEN) -> requests.Response:
    headers = {"X-Webhook-Token": token} if token else {}
    return requests.post(f"{stack.url}/openvidu/webhook", json=event, headers=headers, timeout=10)


def wait_for(check: Callable[[], Any], what: str, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def delivered(receiver: Receiver, webhook_id: str) -> list[dict[str, Any]]:
    return [r for r in list(receiver.requests) if r["headers"].get("webhook-id") == webhook_id]


def test_a_webhook_goes_through_the_stack_signed(relay_stack: RunningStack, receiver: Receiver) -> None:
    assert post_webhook(relay_stack, {"event": "sessionCreated"}, token=None).status_code == 401
    assert post_webhook(relay_stack, {"event": "sessionCreated"}, token="wrong").status_code == 401
    reply = post_webhook(relay_stack, {"event": "sessionCreated", "sessionId": "ses_local"})
    assert reply.status_code == 200, reply.text
    webhook_id = reply.json()["id"]
    (got,) = wait_for(lambda: delivered(receiver, webhook_id), "the delivery")
    assert json.loads(got["body"]) == {"event": "sessionCreated", "sessionId": "ses_local"}
    headers = got["headers"]
    assert verify(
        SECRET, webhook_id, int(headers["webhook-timestamp"]), got["body"], headers["webhook-signature"]
    )

    def counted() -> dict[str, Any] | None:
        status = requests.get(f"{relay_stack.url}/openvidu/webhook/status", timeout=10).json()
        return status if status["successfulRequests"] >= 1 else None

    status = wait_for(counted, "the counters")
    assert status["totalRequests"] >= 1
    assert status["latencyP50Ms"] is not None


def test_stopped_over_http_ends_the_session(relay_stack: RunningStack, receiver: Receiver) -> None:
    auth = relay_stack.auth
    sessions = f"{relay_stack.url}/api/sessions"
    assert requests.post(sessions, json=register_body("ses_stop~1"), auth=auth, timeout=10).status_code == 201
    event = {
        "event": "recordingStatusChanged",
        "id": "ses_stop~1",
        "sessionId": "ses_stop",
        "status": "stopped",
    }
    first, again = post_webhook(relay_stack, event), post_webhook(relay_stack, event)
    assert (first.json()["effect"], again.json()["effect"]) == ("STOPPING", "already STOPPING")
    record = requests.get(f"{sessions}/ses_stop~1", auth=auth, timeout=10).json()
    assert record["status"] == "STOPPING"
    assert requests.get(f"{sessions}/ses_stop~1/active", auth=auth, timeout=10).json()["active"] is False
    for sent in (first, again):  # both are still relayed; wait, so the next test has the receiver alone
        wait_for(lambda sent=sent: delivered(receiver, sent.json()["id"]), "the stopped webhook's delivery")


def test_dead_lettered_then_redriven_with_the_cli(
    relay_stack: RunningStack, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answers = [503, 503]  # the whole budget of two attempts
    webhook_id = post_webhook(relay_stack, {"event": "webrtcConnectionCreated"}).json()["id"]
    auth = relay_stack.auth

    def dead() -> list[dict[str, Any]]:
        listed = requests.get(f"{relay_stack.url}/api/webhooks/dlq", auth=auth, timeout=10).json()
        return [m for m in listed["messages"] if m["id"] == webhook_id]

    (entry,) = wait_for(dead, "the dead letter")
    assert "gave up after 2 attempt(s)" in entry["lastError"]
    assert "HTTP 503" in entry["lastError"]
    assert len(delivered(receiver, webhook_id)) == 2
    cli = subprocess.run(
        [sys.executable, "-m", "local", "dlq", "redrive", "--id", webhook_id, "--url", relay_stack.url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert json.loads(cli.stdout)["moved"] == [webhook_id]
    wait_for(lambda: len(delivered(receiver, webhook_id)) == 3, "the redriven delivery")
    assert dead() == []
