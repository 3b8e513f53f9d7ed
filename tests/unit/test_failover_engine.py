"""The failover guarantees: detection rules, exactly-once claims, retries, FAILED, fencing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hacore.errors import StaleEpoch
from hacore.failover.engine import FailoverEngine
from hacore.failover.rules import next_chunk, stale_reason
from hacore.metrics import EmfMetrics
from hacore.models import Beat, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.versioned import DynamoItems
from tests.helpers import FakeClock, RecordedMetrics
from tests.unit.failover_fixtures import NoChunks, RecordingLauncher, engine_for, recording_session

# Defaults: heartbeat 10 s, timeout 30 s, stuck 60 s, check 10 s, start grace 60 s, backup start 60 s.


def test_a_healthy_recorder_is_never_taken_over(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock, chunks=1)
    for n in range(1, 60):  # ten minutes of heartbeats every 10 s, a chunk every 10 s
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk=f"{n:04d}.mp4"))
        assert engine.sweep().stale == 0
    assert launcher.launches == []


def test_a_silent_recorder_is_taken_over_after_the_timeout(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    clock.advance(30)
    assert engine.sweep().stale == 0  # exactly at the timeout: not yet
    clock.advance(1)
    report = engine.sweep()
    assert [t.reason for t in report.takeovers] == ["heartbeat-timeout"]
    (spec,) = launcher.launches
    assert (spec.epoch, spec.start_chunk) == (2, "0003")
    record = store.get("s1")
    assert (record.status, record.epoch, record.launcherRef) == (Status.FAILING_OVER, 2, "ref-s1-e2")
    assert record.failovers[-1].outcome == "launched"


def test_a_hung_recorder_is_taken_over_though_it_still_heartbeats(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    for _ in range(6):  # heartbeats keep coming, always naming the same chunk
        clock.advance(10)
        store.heartbeat("s1", Beat(lastChunk="0002.mp4"))
        assert engine.sweep().stale == 0
    clock.advance(1)
    store.heartbeat("s1", Beat(lastChunk="0002.mp4"))
    report = engine.sweep()
    assert [t.reason for t in report.takeovers] == ["stuck-chunk"]
    assert launcher.launches[0].start_chunk == "0003"


def test_a_starting_session_gets_its_grace_for_the_first_chunk(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock, chunks=0)
    for _ in range(6):
        clock.advance(10)
        store.heartbeat("s1", Beat())
        assert engine.sweep().stale == 0
    clock.advance(1)
    store.heartbeat("s1", Beat())
    assert [t.reason for t in engine.sweep().takeovers] == ["no-first-chunk"]
    assert store.get("s1").failovers[-1].startChunk == "0000"


def test_start_chunk_follows_what_s3_holds_when_it_is_ahead(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(
        store, settings, clock, launcher, NoChunks({"s1": 4})
    )  # 0003, 0004 uploaded, not reported
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    assert launcher.launches[0].start_chunk == "0005"
    assert next_chunk(None, None) == 0
    assert next_chunk(9, 3) == 10


class SerializedWrites:
    """DynamoDB applies conditional writes to an item one at a time; moto has no lock, so this
    wrapper gives it that one property. Everything else goes to moto untouched."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in ("put_item", "delete_item", "update_item"):
            return attribute

        def serialized(**kwargs: Any) -> Any:
            with self._lock:
                return attribute(**kwargs)

        return serialized


def test_three_detectors_at_once_start_exactly_one_backup(
    dynamodb: Any, settings: Settings, clock: FakeClock
) -> None:
    shared = SerializedWrites(dynamodb)
    recording_session(SessionStore(shared, settings.sessions_table, settings, clock), clock)
    clock.advance(31)
    launcher = RecordingLauncher()
    read_all = threading.Barrier(3)

    class BarrierItems(DynamoItems):
        """Every detector's claim reads the same version before any of them writes: the worst
        interleaving. (`find` is the read inside the claim's read-modify-write.)"""

        first = threading.local()

        def find(self, key: str) -> Any:
            record = super().find(key)
            if not getattr(self.first, "done", False):
                self.first.done = True
                read_all.wait(timeout=10)
            return record

    def barrier_store() -> SessionStore:
        store = SessionStore(shared, settings.sessions_table, settings, clock)
        store.items = BarrierItems(shared, settings.sessions_table, store.items.codec, clock)
        return store

    engines = [
        FailoverEngine(
            barrier_store(),
            launcher,
            NoChunks(),
            settings,
            clock,
        )
        for _ in range(3)
    ]
    reports: list[Any] = []
    threads = [threading.Thread(target=lambda e=e: reports.append(e.sweep())) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(launcher.launches) == 1
    assert sum(len(r.takeovers) for r in reports) == 1
    assert sum(r.lostRaces for r in reports) == 2
    record = SessionStore(dynamodb, settings.sessions_table, settings, clock).get("s1")
    assert (record.epoch, len(record.failovers)) == (2, 1)


def test_the_launch_carries_an_idempotency_token_of_session_and_epoch(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    spec = launcher.launches[0]
    assert spec.token == type(spec)("s1", 2, "whatever", {}).token
    assert spec.token != type(spec)("s1", 3, "0003", {}).token


def test_a_launch_that_throws_leaves_the_session_claimable_again(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher(fail=1)
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    clock.advance(31)
    first = engine.sweep()
    assert [t.outcome for t in first.takeovers] == ["launch-failed"]
    record = store.get("s1")
    assert (record.status, record.epoch, record.failovers[-1].outcome) == (
        Status.FAILING_OVER,
        2,
        "launch-failed",
    )
    assert "no capacity" in (record.failovers[-1].detail or "")
    second = engine.sweep()  # no need to wait for the backup start timeout
    assert [(t.reason, t.outcome, t.epoch) for t in second.takeovers] == [("launch-failed", "launched", 3)]
    assert len(launcher.launches) == 1


def test_a_backup_that_never_heartbeats_leads_to_the_next_attempt_then_failed(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    for expected_epoch in (3, 4):
        clock.advance(settings.backup_start_timeout_s - 1)
        assert engine.sweep().stale == 0  # the backup still has time
        clock.advance(1)
        report = engine.sweep()
        assert [(t.reason, t.epoch) for t in report.takeovers] == [("backup-start-timeout", expected_epoch)]
    clock.advance(settings.backup_start_timeout_s)
    report = engine.sweep()
    assert report.failed == ["s1"]
    record = store.get("s1")
    assert (record.status, record.active) == (Status.FAILED, False)
    assert [f.outcome for f in record.failovers] == [
        "start-timeout",
        "start-timeout",
        "start-timeout",
        "gave-up",
    ]
    assert len(launcher.launches) == settings.max_failover_attempts
    clock.advance(settings.terminal_timeout_s - 1)
    assert engine.sweep().candidates == 0  # a FAILED session is not watched any more...
    clock.advance(1)
    report = engine.sweep()  # ...until its terminal is owed: the customer's deadline, no takeover
    assert (report.candidates, report.stale, report.takeovers) == (1, 0, [])


def test_the_backups_heartbeat_ends_the_takeover_and_resets_the_attempts(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    clock.advance(20)
    record = store.heartbeat("s1", Beat(epoch=2))
    assert (record.status, record.failoverAttempts, record.failovers[-1].outcome) == (
        Status.RECORDING,
        0,
        "running",
    )
    clock.advance(45)  # the backup's chunk clock started at its first heartbeat: not stuck yet
    store.heartbeat("s1", Beat(epoch=2))
    assert engine.sweep().stale == 0


def test_a_zombie_primary_is_fenced_after_the_takeover(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    with pytest.raises(StaleEpoch) as fenced:
        store.heartbeat("s1", Beat(epoch=1, lastChunk="0007.mp4"))
    assert fenced.value.status_code == 409
    assert store.get("s1").lastChunk == "0002.mp4"


def test_inactive_sessions_are_not_candidates(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock)
    recording_session(store, clock)
    store.set_status("s1", Status.STOPPING)
    clock.advance(settings.terminal_timeout_s - 1)
    assert engine.sweep().candidates == 0
    clock.advance(600)  # OpenVidu never said how it ended: a deadline, never a takeover
    report = engine.sweep()
    assert (report.candidates, report.stale, report.takeovers) == (1, 0, [])


def test_rules_for_each_status(store: SessionStore, settings: Settings, clock: FakeClock) -> None:
    recording_session(store, clock)
    record = store.get("s1")
    now = clock.now
    assert stale_reason(record, now, settings) is None
    assert stale_reason(record, now + 31, settings) == "heartbeat-timeout"
    for status in (Status.PAUSED, Status.STOPPING, Status.COMPLETED, Status.INACTIVE, Status.FAILED):
        assert stale_reason(record.model_copy(update={"status": status}), now + 999, settings) is None


def test_manual_takeover_and_its_refusals(store: SessionStore, settings: Settings, clock: FakeClock) -> None:
    from hacore.failover.engine import NotTakeable

    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    takeover = engine.take_over("s1")  # healthy, but the operator says so
    assert (takeover.reason, takeover.outcome, takeover.epoch) == ("manual", "launched", 2)
    store.set_status("s1", Status.INACTIVE)
    with pytest.raises(NotTakeable):
        engine.take_over("s1")


def test_the_backup_environment(store: SessionStore, clock: FakeClock) -> None:
    settings = Settings.from_env(
        {
            "SESSIONS_TABLE": "ovha-local-SessionsTable",
            "HA_CONTROLLER_URL": "http://ctl:8080",
            "HA_AWS_S3_BUCKET": "b",
        }
    )
    launcher = RecordingLauncher()
    engine = engine_for(store, settings, clock, launcher)
    recording_session(store, clock)
    store.decide(
        "s1",
        lambda r, now: r.model_copy(
            update={"environment": {**r.environment, "hostname": "dead-host", "haControllerPassword": "leak"}}
        ),
    )
    clock.advance(31)
    engine.sweep()
    env = launcher.launches[0].environment
    assert env["VIDEO_ID"] == "s1"
    assert env["VIDEO_NAME"] == "rec"
    assert (env["START_CHUNK"], env["IS_RECOVERY_CONTAINER"], env["EPOCH"]) == ("0003", "true", "2")
    assert (env["HEARTBEAT_INTERVAL"], env["HA_CONTROLLER_URL"], env["HA_AWS_S3_BUCKET"]) == (
        "10",
        "http://ctl:8080",
        "b",
    )
    assert '"outputMode":"COMPOSED"' in env["RECORDING_JSON"]
    assert "HOSTNAME" not in env
    assert not any("PASSWORD" in k for k in env)


def test_sweeps_emit_cloudwatch_metrics(
    store: SessionStore,
    settings: Settings,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from aws_lambda_powertools import Metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = EmfMetrics(Metrics(namespace="OpenViduHA", service="recorder-ha-detector"))
    engine = FailoverEngine(store, RecordingLauncher(fail=1), NoChunks(), settings, clock, metrics)
    recording_session(store, clock)
    clock.advance(31)
    engine.sweep()
    metrics.flush_metrics()
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    blob = lines[-1]  # the flush; the takeover (its own dimension) has a line of its own before it
    names = {m["Name"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Sweeps", "StaleSessions", "LaunchFailures", "SweepDuration"} <= names
    total = {k: sum(v) if isinstance(v, list) else v for k, v in blob.items() if k in names}
    assert (total["LaunchFailures"], total["StaleSessions"]) == (1.0, 1.0)
    assert blob["service"] == "recorder-ha-detector"
    (takeover,) = [line for line in lines if "Takeovers" in line]
    assert (takeover["Takeovers"], takeover["service"]) == ([1.0], "recorder-ha-detector")


def test_the_census_counts_the_recordings_in_progress(store: SessionStore, clock: FakeClock) -> None:
    settings = Settings.from_env({"SESSIONS_TABLE": "ovha-local-SessionsTable"})
    metrics = RecordedMetrics()
    engine = FailoverEngine(store, RecordingLauncher(), NoChunks(), settings, clock, metrics=metrics)
    for sid in ("a", "b", "c"):
        recording_session(store, clock, sid)
    store.set_status("c", Status.STOPPING)  # ended: not in progress
    assert engine.census() == 2
    assert metrics.values["RecordingsInProgress"][-1] == 2


@pytest.mark.parametrize("by", ["sweep", "operator"])
def test_each_takeover_is_one_takeovers_count_with_its_reason(
    store: SessionStore,
    settings: Settings,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    by: str,
) -> None:
    """Whoever takes over (a sweep, an operator through the API), through the injected sink:
    one `Takeovers` line with its `Reason` and the function's `service`, the session as metadata."""
    import json

    from aws_lambda_powertools import Metrics

    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    metrics = EmfMetrics(Metrics(namespace="OpenViduHA", service="recorder-ha-controller"))
    engine = FailoverEngine(store, RecordingLauncher(), NoChunks(), settings, clock, metrics)
    recording_session(store, clock)
    capsys.readouterr()
    if by == "sweep":
        clock.advance(31)
        engine.sweep()
    else:
        engine.take_over("s1")
    records = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')
    ]
    (record,) = [r for r in records if "Takeovers" in r]
    reason = "heartbeat-timeout" if by == "sweep" else "manual"
    assert (record["Reason"], record["Takeovers"], record["sessionId"]) == (reason, [1.0], "s1")
    assert record["service"] == "recorder-ha-controller"
    assert set(record["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]) == {"service", "Reason"}
