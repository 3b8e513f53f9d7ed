"""Draining a media node: its recordings handed over a few at a time, the drain carried on by every
sweep until the node records nothing, then its lifecycle action completed; EC2's and Auto
Scaling's events read through powertools' EventBridge envelope."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.failover.engine import FailoverEngine
from hacore.failover.host_events import HostEvent, host_event
from hacore.models import Beat, Registration, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import ApiClient, FakeClock, register_body
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher

EVENTS = Path(__file__).resolve().parents[2] / "events"
NODE = "i-0b1c2d3e4f5a6b7c8"


def on_node(store: SessionStore, clock: FakeClock, sid: str, host: str = "node-a", chunks: int = 2) -> None:
    store.register(
        Registration.model_validate(
            register_body(sid, clientHost=host, instanceId=NODE if host == "node-a" else None)
        )
    )
    for n in range(chunks):
        clock.advance(1)
        store.heartbeat(sid, Beat(lastChunk=f"{n:04d}.mp4"))


def make_engine(
    store: SessionStore, settings: Settings, clock: FakeClock, completed: list[dict]
) -> FailoverEngine:
    return FailoverEngine(
        store, RecordingLauncher(), NoChunks(), settings, clock, complete_lifecycle=completed.append
    )


def own_first_chunk(store: SessionStore, sid: str) -> None:
    """The handover's recorder stores its first chunk: it owns the session, off the node."""
    record = store.get(sid)
    assert record.handover is not None
    store.heartbeat(sid, Beat(lastChunk=record.handover.startChunk + ".mp4", epoch=record.handover.epoch))


def test_a_drain_hands_the_nodes_recordings_over_a_few_at_a_time_then_completes_its_lifecycle(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    completed: list[dict] = []
    engine = make_engine(store, settings, clock, completed)
    for sid in ("a1", "a2", "a3"):
        on_node(store, clock, sid)
    on_node(store, clock, "b1", host="node-b")  # another node's: never touched
    lifecycle = {
        "LifecycleHookName": "h",
        "AutoScalingGroupName": "g",
        "LifecycleActionToken": "t",
        "EC2InstanceId": NODE,
    }
    report = engine.on_host_event(HostEvent("drain", NODE, lifecycle))["drain"]
    assert (report["live"], report["handingOver"], report["startedNow"]) == (
        3,
        2,
        ["a1", "a2"],
    )  # two at a time
    engine.sweep()  # both still under way: nothing more starts
    assert store.get("a3").handover is None
    own_first_chunk(store, "a1")
    engine.sweep()  # a1 left the node: a3's turn
    assert store.get("a3").handover is not None
    assert store.get("b1").handover is None
    own_first_chunk(store, "a2")
    own_first_chunk(store, "a3")
    assert completed == []
    report = engine.sweep().drains[0]
    assert (report["live"], report["draining"]) == (0, False)
    assert completed == [lifecycle]  # the node may go
    assert engine.sweep().drains == []  # the drain is over
    assert all(store.get(s).failovers[-1].reason == "drain" for s in ("a1", "a2", "a3"))


def test_a_node_going_now_has_its_recordings_taken_over_at_once(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = make_engine(store, settings, clock, [])
    on_node(store, clock, "a1")
    on_node(store, clock, "b1", host="node-b")
    outcome = engine.on_host_event(HostEvent("take-over", NODE))
    assert [t["sessionId"] for t in outcome["takeovers"]] == ["a1"]
    assert (store.get("a1").status, store.get("a1").failovers[-1].reason) == (
        Status.FAILING_OVER,
        "instance-stopping",
    )
    assert store.get("b1").status is Status.RECORDING


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("spot-interruption", HostEvent("drain", NODE)),
        ("instance-stopping", HostEvent("take-over", NODE)),
    ],
)
def test_the_sample_events_read_as_what_they_mean(name: str, expected: HostEvent) -> None:
    assert host_event(json.loads((EVENTS / f"{name}.json").read_text())) == expected


def test_a_lifecycle_action_is_a_drain_that_completes_it() -> None:
    event = host_event(json.loads((EVENTS / "instance-terminate-lifecycle.json").read_text()))
    assert event is not None
    assert (event.action, event.instance_id) == ("drain", NODE)
    assert (event.lifecycle or {}).get("LifecycleHookName") == "drain-recordings"


def test_other_events_are_not_host_events() -> None:
    running = json.loads((EVENTS / "instance-stopping.json").read_text())
    running["detail"]["state"] = "running"
    assert host_event(running) is None
    assert host_event({"detail-type": "Scheduled Event", "detail": {}}) is None


def test_a_malformed_host_event_is_refused_loudly() -> None:
    from pydantic import ValidationError

    broken = json.loads((EVENTS / "spot-interruption.json").read_text())
    del broken["detail"]["instance-id"]
    with pytest.raises(ValidationError, match="instance-id"):
        host_event(broken)


def test_the_drain_routes(store: SessionStore, settings: Settings, clock: FakeClock) -> None:
    engine = make_engine(store, settings, clock, [])
    api = ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, engine)))
    on_node(store, clock, "a1")
    assert api.get("/api/hosts/node-a").json["live"] == 1
    reply = api.post("/api/hosts/node-a/drain")
    assert (reply.status, reply.json["startedNow"], reply.json["draining"]) == (202, ["a1"], True)
    assert api.get("/api/hosts/node-a").json["handingOver"] == 1
    empty = api.post("/api/hosts/node-z/drain")
    assert (empty.status, empty.json["empty"], empty.json["draining"]) == (200, True, False)
    bad = api.post("/api/hosts/no%20spaces/drain")
    assert bad.status == 400
    assert api.call("POST", "/api/hosts/node-a/drain", auth=None).status == 401


def test_a_registration_names_its_ec2_instance_or_is_refused(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    api = ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock)))
    assert api.post("/api/sessions", register_body("s1", instanceId=NODE)).status == 201
    assert store.get("s1").instanceId == NODE
    refused = api.post("/api/sessions", register_body("s2", instanceId="my-laptop"))
    assert refused.status == 400
    assert "instanceId" in refused.raw.decode()


def test_a_nodes_watcher_beats_for_it(store: SessionStore, settings: Settings, clock: FakeClock) -> None:
    engine = make_engine(store, settings, clock, [])
    api = ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, engine)))
    assert api.get("/api/hosts/node-a").json["watcherSeenAt"] is None
    reply = api.put("/api/hosts/node-a/heartbeat")
    assert (reply.status, reply.json["host"]) == (200, "node-a")
    assert api.get("/api/hosts/node-a").json["watcherSeenAt"] == reply.json["lastSeenAt"]
    assert engine.nodes.heard_since(clock() - 1) == {"node-a"}
    clock.advance(60)
    assert api.put("/api/hosts/node-a/heartbeat").status == 200  # beats again: one item, updated
    assert engine.nodes.heard_since(clock() - 1) == {"node-a"}
    assert api.put("/api/hosts/bad%20host/heartbeat").status == 400
    assert api.call("PUT", "/api/hosts/node-a/heartbeat", auth=None).status == 401
