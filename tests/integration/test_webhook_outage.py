"""Webhook delivery through a receiver's outage, on a real HTTP receiver, with time scaled (a second
stands for an hour): each recording's webhooks arrive in order and one that waits holds back
only its own recording; a failing endpoint is probed one request at a time, shown unhealthy,
and when it answers again everything held flows with no redrive; a spent schedule goes to the
DLQ, and the auto-redrive brings it back once the endpoint answers."""

from __future__ import annotations

import json
import time
from typing import Any

from local.receiver import Receiver
from tests.integration.webhook_rig import Rig, make_rig

HOUR = {  # a second stands for an hour; the day's schedule, not the rig's quick one
    "OPENVIDU_WEBHOOK_TIME_SCALE": "3600",
    "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS": "",
    "OPENVIDU_WEBHOOK_RETRY_DELAY": "",
}


def recording_event(recording: str, seq: int) -> dict[str, Any]:
    return {
        "event": "recordingStatusChanged",
        "id": recording,
        "sessionId": recording,
        "status": "started",
        "seq": seq,
    }


def delivered(receiver: Receiver) -> list[tuple[str, int]]:
    """(recording, seq) of each accepted delivery, in the order the receiver took them."""
    out = []
    for request in list(receiver.requests):
        if 200 <= request["status"] < 300:
            body = json.loads(request["body"])
            out.append((body["id"], body["seq"]))
    return out


def in_order(got: list[tuple[str, int]]) -> bool:
    by_recording: dict[str, list[int]] = {}
    for recording, seq in got:
        by_recording.setdefault(recording, []).append(seq)
    return all(seqs == sorted(seqs) for seqs in by_recording.values())


def answers_503_while_down(receiver: Receiver) -> dict[str, bool]:
    """The receiver answers 503 while `down["on"]`, 200 once the test sets it False."""
    down = {"on": True}
    receiver.answer = lambda request: 503 if down["on"] else 200
    return down


def rig_for(receiver: Receiver, **env: str) -> Rig:
    return make_rig(receiver, **{**HOUR, **env})


def test_a_waiting_webhook_holds_back_only_its_own_recording(aws: None, receiver: Receiver) -> None:
    rig = rig_for(receiver)
    refusals = {"left": 3}

    def answer(request: dict[str, Any]) -> int:
        body = json.loads(request["body"])
        if (body["id"], body["seq"]) == ("rec-a", 0) and refusals["left"]:
            refusals["left"] -= 1
            return 503
        return 200

    receiver.answer = answer
    for seq in range(3):  # one batch holds both recordings' webhooks
        rig.post(recording_event("rec-a", seq))
        rig.post(recording_event("rec-b", seq))
    rig.run_until(lambda: len(delivered(receiver)) == 6, 60, "six deliveries")
    got = delivered(receiver)
    assert sorted(got) == sorted((r, s) for r in ("rec-a", "rec-b") for s in range(3))  # each once
    assert in_order(got)
    # rec-b was not held behind rec-a: it was through before rec-a's first got in
    assert got.index(("rec-b", 2)) < got.index(("rec-a", 0))
    bodies = [(json.loads(r["body"]), r["status"]) for r in receiver.requests]
    attempts_a0 = [status for body, status in bodies if (body["id"], body["seq"]) == ("rec-a", 0)]
    assert attempts_a0 == [503, 503, 503, 200]
    assert rig.status()["dlqDepth"] == 0


def test_an_outage_is_probed_shown_and_flows_again_without_a_redrive(aws: None, receiver: Receiver) -> None:
    rig = rig_for(
        receiver,
        OPENVIDU_WEBHOOK_PROBE_INTERVAL="3600",  # one probe a (scaled) hour: a second here
        OPENVIDU_WEBHOOK_UNHEALTHY_AFTER="7200",
    )
    down = answers_503_while_down(receiver)
    recordings = [f"rec-{n}" for n in range(4)]
    for seq in range(3):
        for recording in recordings:
            rig.post(recording_event(recording, seq))
    # eight scaled hours of outage
    began = time.monotonic()
    seen: list[str] = []
    while time.monotonic() - began < 8:
        if not rig.poller.poll_once(wait_seconds=0):
            time.sleep(0.05)
        health = rig.status()["health"]
        if not seen or seen[-1] != health:
            seen.append(health)
    outage_requests = len(receiver.requests)
    assert delivered(receiver) == []
    # probed, not hammered: about one request per probe interval (plus the first failures of
    # the batch that found it down), never the twelve webhooks each on its own schedule
    assert outage_requests <= 8 + 4 + 2, outage_requests
    assert seen[-2:] == ["failing", "unhealthy"], seen
    status = rig.status()
    (endpoint,) = status["endpoints"]
    assert endpoint["health"] == "unhealthy"
    assert endpoint["lastError"].startswith("HTTP 503")
    assert endpoint["downSeconds"] >= 7
    assert max(rig.metrics.values["WebhookEndpointDownSeconds"]) >= 5  # written at each probe and hold
    assert rig.metrics.sums["WebhooksHeld"] > 0
    down["on"] = False
    recovered = time.monotonic()
    rig.run_until(lambda: len(delivered(receiver)) == 12, 30, "every held webhook")
    flowed_in = time.monotonic() - recovered
    got = delivered(receiver)
    assert len(set(got)) == 12
    assert in_order(got)
    # woken by the probe that found it answering, not by their own next retry (up to 5 h: 5 s)
    assert flowed_in < 4, flowed_in
    status = rig.status()
    assert (status["health"], status["dlqDepth"]) == ("healthy", 0)
    assert status["endpoints"][0]["recoveredAt"] is not None


def test_a_spent_schedule_is_dead_lettered_and_auto_redriven_once_the_endpoint_answers(
    aws: None, receiver: Receiver
) -> None:
    rig = rig_for(
        receiver,
        OPENVIDU_WEBHOOK_RETRY_SCHEDULE="1h,1h",
        OPENVIDU_WEBHOOK_PROBE_INTERVAL="1800",
        OPENVIDU_WEBHOOK_AUTO_REDRIVE="true",
    )
    down = answers_503_while_down(receiver)
    _, first = rig.post(recording_event("rec-old", 0))
    rig.run_until(lambda: rig.status()["dlqDepth"] == 1, 30, "the dead letter")
    (dead,) = rig.parts.dead_letters.list()
    assert dead["id"] == first["id"]
    assert "over the retry schedule (2h)" in dead["lastError"]
    assert dead["attempts"] == 3
    down["on"] = False
    rig.post(recording_event("rec-new", 0))  # the next webhook's probe finds it answering
    rig.run_until(lambda: len(delivered(receiver)) == 2, 30, "the new webhook and the redriven one")
    assert sorted(delivered(receiver)) == [("rec-new", 0), ("rec-old", 0)]
    assert rig.status()["dlqDepth"] == 0


def test_without_the_option_dead_letters_wait_for_an_operator(aws: None, receiver: Receiver) -> None:
    rig = rig_for(receiver, OPENVIDU_WEBHOOK_RETRY_SCHEDULE="1h", OPENVIDU_WEBHOOK_PROBE_INTERVAL="1800")
    down = answers_503_while_down(receiver)
    rig.post(recording_event("rec-old", 0))
    rig.run_until(lambda: rig.status()["dlqDepth"] == 1, 30, "the dead letter")
    down["on"] = False
    rig.post(recording_event("rec-new", 0))
    rig.run_until(lambda: len(delivered(receiver)) == 1, 30, "the new webhook")
    time.sleep(0.5)
    rig.poller.poll_once(wait_seconds=0)
    assert delivered(receiver) == [("rec-new", 0)]
    assert rig.status()["dlqDepth"] == 1


def test_a_flaky_endpoint_is_not_treated_as_down(aws: None, receiver: Receiver) -> None:
    """Every other request refused: each webhook retries on its own schedule, none is held."""
    rig = rig_for(receiver, OPENVIDU_WEBHOOK_FAILING_AFTER="36000")  # 10 h of nothing but failures
    answered = {"n": 0}

    def every_other(request: dict[str, Any]) -> int:
        answered["n"] += 1
        return 503 if answered["n"] % 2 else 200

    receiver.answer = every_other
    for seq in range(2):
        for recording in ("rec-x", "rec-y", "rec-z"):
            rig.post(recording_event(recording, seq))
    rig.run_until(lambda: len(delivered(receiver)) == 6, 30, "six deliveries")
    assert in_order(delivered(receiver))
    assert "WebhooksHeld" not in rig.metrics.sums
    assert rig.status()["health"] == "healthy"
    assert rig.status()["dlqDepth"] == 0


def test_a_failing_endpoint_with_nothing_queued_recovers_on_the_detectors_probe(
    aws: None, receiver: Receiver
) -> None:
    """Its webhooks all dead-lettered, nothing left to try it: the detector's probe (a signed
    `webhookProbe`, once per probe interval) finds it back, and the status and alarm clear."""
    from hacore.webhooks.wiring import build_relay

    rig = rig_for(receiver, OPENVIDU_WEBHOOK_RETRY_SCHEDULE="1h", OPENVIDU_WEBHOOK_PROBE_INTERVAL="1800")
    down = answers_503_while_down(receiver)
    rig.post(recording_event("rec", 0))
    rig.run_until(lambda: rig.status()["dlqDepth"] == 1, 30, "the dead letter")
    assert rig.parts.dead_letters.depth()["queued"] == 0  # nothing will try the endpoint again
    assert rig.status()["health"] in ("failing", "unhealthy")
    (name,) = [e.name for e in rig.parts.endpoints]
    probe = build_relay(rig.parts, rig.metrics).probe_failing
    time.sleep(0.6)  # the probe interval: half an hour, scaled
    assert probe()[name].startswith("still failing: HTTP 503")
    assert probe()[name] == "not due"  # once per interval, whoever probes
    assert rig.status()["health"] in ("failing", "unhealthy")
    down["on"] = False
    time.sleep(0.6)
    assert probe() == {name: "recovered"}
    assert rig.status()["health"] == "healthy"
    assert probe() == {}  # a healthy endpoint is not probed
    probes = [json.loads(r["body"]) for r in receiver.requests if b"webhookProbe" in r["body"]]
    assert [p["event"] for p in probes] == ["webhookProbe", "webhookProbe"]


def test_a_recordings_later_webhooks_wait_behind_its_dead_letter_and_a_redrive_restores_the_order(
    aws: None, receiver: Receiver
) -> None:
    """rec-a's first webhook is refused outright (a 4xx: straight to the DLQ); its later ones are
    parked behind it, visible on the status route, while rec-b flows. The redrive of that one
    dead letter brings rec-a back whole, in its order."""
    rig = rig_for(receiver)
    refuse = {"on": True}

    def answer(request: dict[str, Any]) -> int:
        body = json.loads(request["body"])
        return 400 if refuse["on"] and (body["id"], body["seq"]) == ("rec-a", 0) else 200

    receiver.answer = answer
    _, head = rig.post(recording_event("rec-a", 0))
    rig.drain()
    for seq in (1, 2):
        rig.post(recording_event("rec-a", seq))
    rig.post(recording_event("rec-b", 0))
    rig.drain()
    assert delivered(receiver) == [("rec-b", 0)]  # rec-a waits; rec-b does not
    (endpoint,) = rig.status()["endpoints"]
    assert endpoint["recordingsWaitingBehindDeadLetters"] == 1
    dead = rig.parts.dead_letters.list()
    assert sorted((d["id"] == head["id"], d["parkedBehind"]) for d in dead) == [
        (False, head["id"]),
        (False, head["id"]),
        (True, None),
    ]
    assert rig.metrics.sums["WebhooksParked"] == 2
    name = dead[0]["endpoint"]  # the auto-redrive leaves a 4xx refusal, and what waits behind it
    assert rig.parts.dead_letters.redrive(endpoint=name, retryable_only=True) == []
    refuse["on"] = False  # the receiver is fixed; an operator redrives the one dead letter
    moved = rig.parts.dead_letters.redrive({head["id"]})
    assert len(moved) == 3  # the recording goes back whole
    rig.drain()
    assert delivered(receiver) == [("rec-b", 0), ("rec-a", 0), ("rec-a", 1), ("rec-a", 2)]
    assert rig.status()["endpoints"][0]["recordingsWaitingBehindDeadLetters"] == 0
    assert rig.status()["dlqDepth"] == 0
    rig.post(recording_event("rec-a", 3))  # and the recording flows again
    rig.drain()
    assert delivered(receiver)[-1] == ("rec-a", 3)


def test_the_auto_redrive_restores_a_recordings_order_after_an_outage(aws: None, receiver: Receiver) -> None:
    rig = rig_for(
        receiver,
        OPENVIDU_WEBHOOK_RETRY_SCHEDULE="1h",
        OPENVIDU_WEBHOOK_PROBE_INTERVAL="1800",
        OPENVIDU_WEBHOOK_AUTO_REDRIVE="true",
    )
    down = answers_503_while_down(receiver)
    rig.post(recording_event("rec-a", 0))
    rig.run_until(lambda: rig.status()["dlqDepth"] == 1, 30, "the dead letter")
    rig.post(recording_event("rec-a", 1))  # comes after its recording's dead letter: parked
    rig.run_until(lambda: rig.status()["dlqDepth"] == 2, 30, "the parked webhook")
    down["on"] = False
    rig.post(recording_event("rec-b", 0))  # its delivery finds the endpoint back: the auto-redrive
    rig.run_until(lambda: len(delivered(receiver)) == 3, 30, "every webhook")
    got = delivered(receiver)
    assert [g for g in got if g[0] == "rec-a"] == [("rec-a", 0), ("rec-a", 1)]
    assert rig.status()["dlqDepth"] == 0
