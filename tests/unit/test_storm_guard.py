"""The takeover-storm guard: an API outage takes nobody over, a dead media node is taken over on
time, S3 tells the dead from the unheard during a storm, and a storm's end gives every recorder
one more timeout. The fence marker a claim leaves in S3."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from moto import mock_aws

from hacore.chunks import ChunkIndex, StoredChunks, fence_key
from hacore.failover.engine import FailoverEngine
from hacore.failover.guard import GuardState, GuardStore, Verdict
from hacore.models import Beat, Registration, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from local.provision import physical_name
from recorder.layout import fence_key as recorder_fence_key
from tests.helpers import FakeClock, register_body
from tests.unit.failover_fixtures import RecordingLauncher

CONTROL_TABLE = physical_name("ControlTable")
# Defaults: heartbeat 10 s, timeout 30 s, quiet after 20 s, stuck 60 s, check 10 s.


class StoredIn(ChunkIndex):
    """What S3 holds, as a test sets it: per session, when each epoch last stored a chunk."""

    def __init__(self) -> None:
        super().__init__(None, None)
        self.stored: dict[str, StoredChunks] = {}
        self.fenced: list[tuple[str, int]] = []

    def scan(self, session_id: str) -> StoredChunks:
        return self.stored.get(session_id, StoredChunks())

    def fence(self, session_id: str, epoch: int) -> bool:
        self.fenced.append((session_id, epoch))
        return True


class Fleet:
    """Recorders on hosts, heartbeating every 10 s, each at its own moment in the interval."""

    def __init__(self, store: SessionStore, clock: FakeClock, hosts: dict[str, int]) -> None:
        self.store, self.clock = store, clock
        self.ids: list[str] = []
        for host, count in hosts.items():
            for n in range(count):
                sid = f"{host}-{n}"
                body = register_body(sid) | {"clientHost": host, "clientId": f"recorder-{host}"}
                store.register(Registration.model_validate(body))
                store.heartbeat(sid, Beat(lastChunk="0000.mp4"))
                self.ids.append(sid)
        self.chunk = 0

    def beat(self, ids: list[str] | None = None, seconds: float = 10) -> None:
        """One heartbeat interval: each named recorder heartbeats once, spread over it."""
        self.chunk += 1
        ids = self.ids if ids is None else ids
        step = seconds / max(1, len(self.ids))
        for sid in self.ids:
            self.clock.advance(step)
            if sid in ids:
                self.store.heartbeat(sid, Beat(lastChunk=f"{self.chunk:04d}.mp4"))


def engine(
    store: SessionStore, settings: Settings, clock: FakeClock, chunks: ChunkIndex, guard: Any = None
) -> Any:
    launcher = RecordingLauncher()
    return FailoverEngine(store, launcher, chunks, settings, clock, guard=guard), launcher


def test_an_api_outage_takes_nobody_over_and_its_end_gives_each_one_more_timeout(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Six recorders on two hosts; the API is gone for 60 s (twice the timeout): the detector,
    which reads DynamoDB directly, sees them all go silent. S3 shows them still storing chunks.
    Then heartbeats come back over one interval, in two halves: no takeover at any point."""
    chunks = StoredIn()
    detector, launcher = engine(store, settings, clock, chunks)
    fleet = Fleet(store, clock, {"node-a": 3, "node-b": 3})
    fleet.beat()
    assert detector.sweep().takeovers == []
    storms = []
    for _ in range(6):  # 60 s without a heartbeat reaching the controller
        clock.advance(10)
        for sid in fleet.ids:  # ...while every recorder keeps storing chunks
            chunks.stored[sid] = StoredChunks(newest=fleet.chunk, last_stored_at={1: clock()})
        report = detector.sweep()
        storms.append(report.storm)
        assert report.takeovers == []
    assert storms[-1]
    assert set(report.held.values()) == {Verdict.HOLD_STORM.value}
    fleet.beat(fleet.ids[:3], seconds=2)  # half of them heard again: the storm is over
    report = detector.sweep()
    assert not report.storm
    assert report.takeovers == []
    assert set(report.held.values()) == {Verdict.HOLD_RECOVERING.value}  # the others: one more timeout
    fleet.beat(seconds=10)
    for _ in range(5):
        fleet.beat()
        assert detector.sweep().takeovers == []
    assert launcher.launches == []
    assert all(store.get(sid).status is Status.RECORDING for sid in fleet.ids)


def test_in_a_storm_the_recorders_of_a_node_whose_watcher_is_heard_are_taken_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Six silent on two hosts, S3 unsure of any (a storm: the guard doubts its ears). node-a's
    watcher still beats: the controller hears node-a, so its recorders' silence is theirs, and
    they go; node-b, watcher silent too, may be the controller's deafness: held."""
    detector, _launcher = engine(store, settings, clock, StoredIn())
    fleet = Fleet(store, clock, {"node-a": 3, "node-b": 3})
    fleet.beat()
    for _ in range(4):  # 40 s: every recorder silent; node-a's watcher beats on
        clock.advance(10)
        detector.nodes.beat("node-a")
    report = detector.sweep()
    assert report.storm
    assert sorted(t.sessionId for t in report.takeovers) == [f"node-a-{n}" for n in range(3)]
    assert set(report.held.values()) == {Verdict.HOLD_STORM.value}
    assert sorted(report.held) == [f"node-b-{n}" for n in range(3)]
    assert detector.nodes.heard_since(clock() - 30) == {"node-a"}


def test_a_recorder_still_silent_a_timeout_after_the_storm_is_taken_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    chunks = StoredIn()
    detector, launcher = engine(store, settings, clock, chunks)
    fleet = Fleet(store, clock, {"node-a": 3, "node-b": 3})
    clock.advance(40)
    assert detector.sweep().storm
    survivors = fleet.ids[1:]
    fleet.beat(survivors, seconds=2)
    calm = clock()
    assert detector.sweep().takeovers == []  # recovering
    taken_at = None
    for _ in range(5):
        fleet.beat(survivors)
        if detector.sweep().takeovers:
            taken_at = taken_at or clock()
    assert [spec.session_id for spec in launcher.launches] == [fleet.ids[0]]
    assert taken_at is not None
    assert 30 < taken_at - calm <= 40


def test_a_dead_media_node_is_taken_over_on_time_while_its_neighbour_lives(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Three recorders on node-a die at once, three on node-b live on: half the sessions, one host."""
    detector, _launcher = engine(store, settings, clock, StoredIn())
    fleet = Fleet(store, clock, {"node-a": 3, "node-b": 3})
    dead, alive = fleet.ids[:3], fleet.ids[3:]
    taken: list[str] = []
    for _ in range(4):  # 40 s: the timeout is 30 s
        fleet.beat(alive)
        report = detector.sweep()
        assert not report.storm
        taken += [t.sessionId for t in report.takeovers]
    assert sorted(taken) == dead


def test_a_whole_single_node_deployment_dying_is_taken_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Every recorder silent, but on one host: a node died, the controller's ears are fine."""
    detector, _launcher = engine(store, settings, clock, StoredIn())
    fleet = Fleet(store, clock, {"node-a": 4})
    clock.advance(31)
    report = detector.sweep()
    assert not report.storm
    assert sorted(t.sessionId for t in report.takeovers) == sorted(fleet.ids)


def test_in_a_storm_only_recorders_s3_shows_dead_are_taken_over_a_few_a_sweep(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Ten silent on two hosts: three still store chunks (held), seven stopped storing a minute
    ago (dead whatever the API says): five this sweep, two the next."""
    chunks = StoredIn()
    detector, _launcher = engine(store, settings, clock, chunks)
    fleet = Fleet(store, clock, {"node-a": 5, "node-b": 5})
    clock.advance(70)
    for n, sid in enumerate(fleet.ids):
        at = clock() - (1 if n < 3 else 65)
        chunks.stored[sid] = StoredChunks(newest=3, last_stored_at={1: at})
    first = detector.sweep()
    assert first.storm
    assert len(first.takeovers) == settings.storm_takeovers_per_sweep == 5
    assert list(first.held.values()).count(Verdict.RATE_LIMITED.value) == 2
    assert list(first.held.values()).count(Verdict.HOLD_STORM.value) == 3
    clock.advance(10)
    second = detector.sweep()
    assert len(second.takeovers) == 2
    assert {t.sessionId for t in first.takeovers + second.takeovers} == set(fleet.ids[3:])


def test_the_guard_state_is_shared_by_detectors_through_the_control_table(
    dynamodb: Any, store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """A storm one detector saw ends; another detector (another Lambda) knows when it ended."""
    guards = [GuardStore(dynamodb, CONTROL_TABLE) for _ in range(2)]
    assert guards[0].load() == GuardState()
    assert guards[0].save(GuardState(storm_since=100.0))
    assert not guards[1].save(GuardState(storm_since=101.0))  # judged already: the first one stands
    seen = guards[1].load()
    assert (seen.storm, seen.storm_since, seen.version) == (True, 100.0, 1)
    assert guards[1].save(GuardState(storm_since=None, calm_since=150.0, version=seen.version))
    assert guards[0].load().calm_since == 150.0
    detector, _ = engine(store, settings, clock, StoredIn(), guard=guards[0])
    Fleet(store, clock, {"node-a": 3, "node-b": 3})
    clock.advance(31)
    assert detector.sweep().storm
    assert guards[1].load().storm


def test_a_claim_leaves_the_fence_marker_the_recorder_looks_for(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="recordings")
        detector, _launcher = engine(store, settings, clock, ChunkIndex(s3, "recordings"))
        Fleet(store, clock, {"node-a": 1})
        clock.advance(31)
        (takeover,) = detector.sweep().takeovers
        assert takeover.epoch == 2
        assert fence_key("node-a-0", 2) == recorder_fence_key("node-a-0", 2)  # one key, two readers
        s3.head_object(Bucket="recordings", Key=fence_key("node-a-0", 2))
        with pytest.raises(s3.exceptions.ClientError):
            s3.head_object(Bucket="recordings", Key=fence_key("node-a-0", 3))


def test_a_controller_too_busy_to_hear_in_time_holds_rather_than_takes_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Overload: every recorder still heartbeats, but its heartbeats land 25 s apart instead of 10,
    on every host, and one lands 35 s after its last, past the 30 s timeout. The detector sweeps
    every 2.5 s: most sessions are quiet (a heartbeat missed) at any moment, so the guard holds
    the late one instead of taking it over."""
    detector, launcher = engine(store, settings, clock, StoredIn())
    fleet = Fleet(store, clock, {f"node-{n}": 2 for n in range(5)})
    late = fleet.ids[0]
    verdicts: list[str] = []
    for round_ in range(4):
        for sid in fleet.ids:
            clock.advance(2.5)
            if not (sid == late and round_ == 2):  # its heartbeat of round 2 is lost in the queue
                store.heartbeat(sid, Beat(lastChunk=f"{round_ + 1:04d}.mp4"))
            report = detector.sweep()
            assert report.takeovers == []
            verdicts += [report.held[late]] if late in report.held else []
    assert Verdict.HOLD_STORM.value in verdicts  # it was silent past the timeout, and held
    assert launcher.launches == []


# --- two witnesses: heartbeats, and S3 ---------------------------------------------------


@pytest.mark.parametrize("recorders", [1, 2])
def test_a_recorder_unheard_but_storing_chunks_is_never_taken_over(
    store: SessionStore, settings: Settings, clock: FakeClock, recorders: int
) -> None:
    """A small deployment (one recorder, or two on one node: no storm possible) whose controller
    traffic is cut for 2.5 heartbeat timeouts while S3 stays reachable: held as unheard every
    sweep, shown on the status, counted; heard again, it is an ordinary session."""
    from tests.helpers import RecordedMetrics

    chunks = StoredIn()
    metrics = RecordedMetrics()
    detector = FailoverEngine(store, RecordingLauncher(), chunks, settings, clock, metrics=metrics)
    fleet = Fleet(store, clock, {"node-a": recorders})
    fleet.beat()
    cut_until = clock() + 2.5 * settings.heartbeat_timeout_s
    held = []
    while clock() < cut_until:
        clock.advance(settings.check_interval_s)
        for sid in fleet.ids:  # a chunk every 10 s reaches S3
            chunks.stored[sid] = StoredChunks(newest=fleet.chunk, last_stored_at={1: clock() - 3})
        report = detector.sweep()
        assert report.takeovers == []
        assert not report.storm
        held.append(report.unheard)
    assert held[-1] == sorted(fleet.ids)  # unheard once the timeout passed, to the end of the cut
    assert detector.guard.load().unheard == tuple(sorted(fleet.ids))
    assert metrics.values["UnheardSessions"][-1] == recorders
    fleet.beat()
    report = detector.sweep()
    assert (report.takeovers, report.unheard, detector.guard.load().unheard) == ([], [], ())
    assert all(store.get(sid).epoch == 1 for sid in fleet.ids)


def test_an_unheard_recorder_is_taken_over_once_s3_goes_quiet_too(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    chunks = StoredIn()
    detector, _launcher = engine(store, settings, clock, chunks)
    fleet = Fleet(store, clock, {"node-a": 1})
    fleet.beat()
    (sid,) = fleet.ids
    clock.advance(settings.heartbeat_timeout_s + 1)
    chunks.stored[sid] = StoredChunks(newest=5, last_stored_at={1: clock() - 1})
    assert detector.sweep().unheard == [sid]
    last_chunk_at = clock() - 1
    clock.advance(settings.s3_quiet_after_s)  # no chunk since: S3 says it stopped as well
    assert chunks.stored[sid].last_stored_at[1] == last_chunk_at
    report = detector.sweep()
    assert [t.sessionId for t in report.takeovers] == [sid]
    assert report.takeovers[0].reason == "heartbeat-timeout"


def test_a_killed_recorder_is_taken_over_at_its_heartbeat_timeout_as_before(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    """Killed: its heartbeats and its chunks stop together. At the default timing its last chunk is
    older than the S3 window (22 s) by the time its heartbeat times out (30 s): no delay."""
    chunks = StoredIn()
    detector, _ = engine(store, settings, clock, chunks)
    fleet = Fleet(store, clock, {"node-a": 1})
    fleet.beat()
    (sid,) = fleet.ids
    chunks.stored[sid] = StoredChunks(newest=fleet.chunk, last_stored_at={1: clock() - 1})
    killed_at = clock()
    taken_at = None
    while taken_at is None:
        clock.advance(settings.check_interval_s)
        if detector.sweep().takeovers:
            taken_at = clock()
    assert settings.s3_quiet_after_s < settings.heartbeat_timeout_s
    assert taken_at - killed_at <= settings.heartbeat_timeout_s + settings.check_interval_s


def test_the_s3_window_must_exceed_a_chunk() -> None:
    from pydantic import ValidationError

    assert Settings.from_env({}).s3_quiet_after_s == 22
    assert Settings.from_env({"HA_TIMING": "fast"}).s3_quiet_after_s == 6
    with pytest.raises(ValidationError, match="APP_FAILOVER_S3_QUIET_AFTER"):
        Settings.from_env({"APP_FAILOVER_S3_QUIET_AFTER": "10"})
