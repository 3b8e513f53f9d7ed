"""/api/failover routes through the real handler, and the detector's sweep loop."""

from __future__ import annotations

import pytest
from detector.app import run_sweeps

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.models import Registration, Status
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import ApiClient, FakeClock, register_body
from tests.unit.failover_fixtures import RecordingLauncher, engine_for, recording_session


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def failover_api(
    store: SessionStore, settings: Settings, clock: FakeClock, launcher: RecordingLauncher
) -> ApiClient:
    engine = engine_for(store, settings, clock, launcher)
    return ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, engine)))


def test_status_has_the_originals_fields_and_the_launchers_health(failover_api: ApiClient) -> None:
    status = failover_api.get("/api/failover/status").json
    assert status["enabled"] is True
    assert (status["heartbeatTimeoutSeconds"], status["stuckChunkTimeoutSeconds"]) == (30, 60)
    assert status["checkIntervalMs"] == 10_000
    assert (status["activeBackupContainers"], status["backupContainerDetails"], status["backups"]) == (
        0,
        {},
        [],
    )
    assert (status["dockerInitialized"], status["dockerInitializationFailed"]) == (True, False)
    assert status["dockerStatus"] == "connected"
    assert status["launcher"] == {"launcher": "recording", "healthy": True}
    guard = status["stormGuard"]
    assert (guard["engaged"], guard["since"], guard["share"], guard["minHosts"]) == (False, None, 0.3, 2)


def test_status_and_check_show_an_engaged_storm_guard_and_what_it_held(
    failover_api: ApiClient, store: SessionStore, clock: FakeClock
) -> None:
    for n in range(4):  # four recorders on two hosts, none heard for 31 s: a storm, not four deaths
        body = register_body(f"s{n}") | {"clientHost": f"node-{n % 2}"}
        store.register(Registration.model_validate(body))
    clock.advance(31)
    check = failover_api.post("/api/failover/check").json
    assert check["stormGuard"] is True
    assert check["takeovers"] == []
    assert set(check["held"]) == {"s0", "s1", "s2", "s3"}
    guard = failover_api.get("/api/failover/status").json["stormGuard"]
    assert guard["engaged"] is True
    assert guard["since"] is not None


def test_check_runs_a_sweep_and_backups_lists_what_it_started(
    failover_api: ApiClient, store: SessionStore, clock: FakeClock
) -> None:
    recording_session(store, clock)
    clock.advance(31)
    reply = failover_api.post("/api/failover/check").json
    assert (reply["staleSessions"], len(reply["takeovers"])) == (1, 1)
    assert reply["takeovers"][0]["reason"] == "heartbeat-timeout"
    backups = failover_api.get("/api/failover/backups").json
    assert backups["count"] == 1
    (backup,) = backups["backups"]
    assert (backup["sessionId"], backup["epoch"], backup["startChunk"]) == ("s1", 2, "0003")
    assert backups["activeBackupContainers"] == {"s1": "ref-s1-e2"}  # as the original listed them
    status = failover_api.get("/api/failover/status").json
    assert (status["activeBackupContainers"], status["backupContainerDetails"]) == (1, {"s1": "ref-s1-e2"})
    assert (reply["message"], reply["activeBackupContainers"]) == ("Manual failover check completed", 1)
    session = failover_api.get("/api/sessions/s1").json
    assert (session["status"], session["backupContainerId"], session["epoch"]) == (
        "FAILING_OVER",
        "ref-s1-e2",
        2,
    )


def test_check_with_failover_off_says_so(store: SessionStore, settings: Settings, clock: FakeClock) -> None:
    off = settings.model_copy(update={"failover_enabled": False})
    engine = engine_for(store, off, clock, RecordingLauncher())
    api = ApiClient(Api(ApiDeps(off, store, CredentialSource(off), clock, engine)))
    reply = api.post("/api/failover/check")
    assert (reply.status, reply.json) == (409, {"error": "Failover is disabled"})


def test_stopping_a_backup_gracefully_or_by_force(
    failover_api: ApiClient, store: SessionStore, clock: FakeClock, launcher: RecordingLauncher
) -> None:
    recording_session(store, clock)
    clock.advance(31)
    failover_api.post("/api/failover/check")
    graceful = failover_api.delete("/api/failover/backup/s1")
    assert graceful.status == 200
    assert (graceful.json["message"], graceful.json["method"]) == (
        "Backup container stopped gracefully",
        "graceful",
    )
    assert launcher.stopped == [("ref-s1-e2", False)]
    forced = failover_api.delete("/api/failover/backup/s1/force")  # still finalizing: end it now
    assert forced.status == 200
    assert (forced.json["message"], forced.json["method"]) == ("Backup container force stopped", "force")
    assert launcher.stopped[-1] == ("ref-s1-e2", True)
    assert failover_api.delete("/api/failover/backup/s1/force").status == 404  # not running any more


def test_stopping_when_there_is_no_backup_is_404(
    failover_api: ApiClient, store: SessionStore, clock: FakeClock
) -> None:
    recording_session(store, clock)
    reply = failover_api.delete("/api/failover/backup/s1")
    assert reply.status == 404
    assert reply.json["error"] == "Session s1 has no backup recorder"
    assert failover_api.delete("/api/failover/backup/nobody/force").status == 404


def test_manual_takeover(
    failover_api: ApiClient, store: SessionStore, clock: FakeClock, launcher: RecordingLauncher
) -> None:
    recording_session(store, clock)
    reply = failover_api.post("/api/failover/s1")
    assert reply.status == 202
    assert (reply.json["reason"], reply.json["epoch"], reply.json["startChunk"]) == ("manual", 2, "0003")
    assert (
        failover_api.put("/api/sessions/s1/heartbeat", {"epoch": 1}).status == 409
    )  # the old recorder is fenced
    failover_api.put("/api/sessions/s1/deactivate")
    refused = failover_api.post("/api/failover/s1")
    assert refused.status == 409
    assert "only a live one can be taken over" in refused.json["error"]
    assert failover_api.post("/api/failover/nobody").status == 404


def test_manual_takeover_whose_launch_fails_is_502(
    store: SessionStore, settings: Settings, clock: FakeClock
) -> None:
    engine = engine_for(store, settings, clock, RecordingLauncher(fail=1))
    client = ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock, engine)))
    client.post("/api/sessions", register_body("s2"))
    reply = client.post("/api/failover/s2")
    assert reply.status == 502
    assert reply.json["outcome"] == "launch-failed"


def test_failover_routes_want_auth(failover_api: ApiClient) -> None:
    for method, path in [
        ("GET", "/api/failover/status"),
        ("POST", "/api/failover/check"),
        ("GET", "/api/failover/backups"),
        ("DELETE", "/api/failover/backup/s1"),
        ("DELETE", "/api/failover/backup/s1/force"),
        ("POST", "/api/failover/s1"),
    ]:
        assert failover_api.call(method, path, auth=None).status == 401


# --- the detector Lambda's loop -------------------------------------------------------


class Budget:
    """A Lambda clock: remaining time shrinks as the loop sleeps."""

    def __init__(self, seconds: float) -> None:
        self.left = seconds
        self.slept: list[float] = []

    def remaining(self) -> float:
        return self.left

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.left -= 10


def test_the_detector_sweeps_every_check_interval_within_its_budget(
    store: SessionStore, clock: FakeClock
) -> None:
    settings = Settings.from_env(
        {"SESSIONS_TABLE": "ovha-local-SessionsTable", "APP_DETECTOR_BUDGET_SECONDS": "62"}
    )
    engine = engine_for(store, settings, clock)
    budget = Budget(75)
    flushed: list[int] = []
    summary = run_sweeps(
        engine, settings, budget.remaining, flush=lambda: flushed.append(1), sleep=budget.sleep
    )
    assert summary["sweeps"] == 7  # at 0, 10, ..., 60 s: one sweep more than a minute needs
    assert len(flushed) == 7


def test_a_disabled_detector_takes_nobody_over_but_keeps_the_customers_deadlines(
    store: SessionStore, clock: FakeClock
) -> None:
    from hacore.failover.engine import FailoverEngine
    from tests.unit.failover_fixtures import NoChunks

    settings = Settings.from_env(
        {"SESSIONS_TABLE": "ovha-local-SessionsTable", "APP_FAILOVER_ENABLED": "false"}
    )
    recording_session(store, clock, "silent")
    recording_session(store, clock, "ended")
    store.set_status("ended", Status.STOPPING)  # and OpenVidu never says how
    clock.advance(settings.terminal_timeout_s + 1)
    launcher, owed = RecordingLauncher(), []
    engine = FailoverEngine(store, launcher, NoChunks(), settings, clock, deadlines=owed.append)
    summary = run_sweeps(engine, settings, lambda: 20.0, sleep=lambda s: None)
    assert (summary["enabled"], summary["takeovers"], launcher.launches) == (False, [], [])
    assert store.get("silent").epoch == 1
    assert owed[0] == "ended"  # the terminal it is owed is still given
