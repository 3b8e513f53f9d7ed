"""Every reply the original's clients read (api-contract.md, "Exact replies that existing clients
read"), route by route over real HTTP: the words and the fields, with the types clients expect.
More fields are welcome; none of these may go."""

from __future__ import annotations

import uuid

import requests

from tests.helpers import register_body
from tests.integration.conftest import RunningStack


def new_id() -> str:
    return f"ses_{uuid.uuid4().hex[:8]}"


def has(reply: dict, **expected: object) -> None:
    """Each named field is there; a value checks equality, a type checks the type."""
    for name, want in expected.items():
        assert name in reply, f"{name!r} missing from {reply}"
        if isinstance(want, type):
            assert isinstance(reply[name], want), f"{name!r} is {reply[name]!r}, not a {want.__name__}"
        else:
            assert reply[name] == want, f"{name!r} is {reply[name]!r}, not {want!r}"


def test_sessions_health(stack: RunningStack) -> None:
    reply = requests.get(f"{stack.url}/api/sessions/health", timeout=10).json()
    has(
        reply,
        status="healthy",
        activeSessions=int,
        totalSessions=int,
        inactiveSessions=int,
        timestamp=str,
        service="recorder-ha-controller",
        s3CleanupInfo=str,
    )
    assert "cleanup disabled" in reply["s3CleanupInfo"]  # the stack's default, said in one line
    assert "bucket" in reply["s3CleanupInfo"]


def test_recording_path_delete_and_cleanup(stack: RunningStack, http: requests.Session) -> None:
    sid = new_id()
    assert http.post(f"{stack.url}/api/sessions", json=register_body(sid)).status_code == 201
    path = f"s3://bucket/{sid}/rec.mp4"
    reply = http.put(f"{stack.url}/api/sessions/{sid}/recording-path", json={"recordingPath": path}).json()
    has(reply, message="Recording path updated", sessionId=sid, recordingPath=path, timestamp=str)
    removed = http.delete(f"{stack.url}/api/sessions/{sid}").json()
    has(removed, message="Session removed", sessionId=sid, timestamp=str)
    cleanup = http.post(f"{stack.url}/api/sessions/cleanup").json()
    has(cleanup, message="Manual cleanup completed", removedSessions=int, timestamp=str)


def test_failover_status_check_and_backups(stack: RunningStack, http: requests.Session) -> None:
    status = http.get(f"{stack.url}/api/failover/status").json()
    has(
        status,
        enabled=True,
        heartbeatTimeoutSeconds=int,
        stuckChunkTimeoutSeconds=int,
        checkIntervalMs=int,
        activeBackupContainers=int,
        backupContainerDetails=dict,
        dockerInitialized=True,  # the launcher works, whatever it is
        dockerInitializationFailed=False,
        openviduImage=str,
        dockerStatus="connected",
        timestamp=str,
    )
    assert ":" in status["openviduImage"]  # image:tag
    check = http.post(f"{stack.url}/api/failover/check").json()
    has(
        check,
        message="Manual failover check completed",
        timestamp=str,
        activeBackupContainers=int,
        dockerInitialized=True,
    )
    backups = http.get(f"{stack.url}/api/failover/backups").json()
    has(backups, activeBackupContainers=dict, count=int, timestamp=str)
    assert backups["count"] == len(backups["activeBackupContainers"])


def test_stopping_a_backup_that_is_not_there_is_404(stack: RunningStack, http: requests.Session) -> None:
    sid = new_id()
    assert http.post(f"{stack.url}/api/sessions", json=register_body(sid)).status_code == 201
    for path in (f"/api/failover/backup/{sid}", f"/api/failover/backup/{sid}/force"):
        reply = http.delete(f"{stack.url}{path}")
        assert reply.status_code == 404
        assert "backup" in reply.json()["error"]
    http.delete(f"{stack.url}/api/sessions/{sid}")


def test_webhook_replies(stack: RunningStack) -> None:
    event = {"event": "sessionCreated", "sessionId": new_id(), "timestamp": 1700000000000}
    posted = requests.post(f"{stack.url}/openvidu/webhook", json=event, timeout=10).json()
    has(
        posted,
        status="received",
        message="Webhook received and relay initiated",
        timestamp=str,
        processingTimeMs=float,
    )
    put = requests.put(f"{stack.url}/openvidu/webhook", json=event, timeout=10).json()
    has(put, status="received", method="PUT")
    health = requests.get(f"{stack.url}/openvidu/webhook", timeout=10).json()
    has(
        health,
        status="healthy",
        endpoint="/openvidu/webhook",
        message="OpenVidu webhook relay endpoint is operational",
        timestamp=str,
        relayStatus=dict,
    )
    assert "http" not in str(health)  # never the target URL (it may carry a secret)
    assert requests.get(f"{stack.url}/actuator/health", timeout=10).json()["status"] == "UP"
