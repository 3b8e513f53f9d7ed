"""`ovha`, the operator CLI, as installed by make (.venv/bin/ovha), against a running local stack.

The stack is its own: `ovha takeover` launches a backup, and here a backup is `sleep`, not a
recorder, because this test is about the CLI and the API, not about recording.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.helpers import register_body
from tests.integration.conftest import RunningStack, start_stack, stop_stack

OVHA = Path(sys.executable).parent / "ovha"


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    tmp = tmp_path_factory.mktemp("ovha")
    running = start_stack(
        tmp,
        {
            "APP_PROCESS_BACKUP_COMMAND": "sleep 300",
            "APP_PROCESS_STATE_DIR": str(tmp / "backups"),
            "OPENVIDU_WEBHOOK_ENDPOINT": "http://127.0.0.1:9/hooks",  # named, never posted to here
        },
    )
    yield running
    stop_stack(running)


def ovha(
    stack: RunningStack, *words: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    assert OVHA.exists(), f"{OVHA} is missing: make installs the project (pip install -e .)"
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HA_CONTROLLER_", "OVHA_"))}
    environ |= {"OVHA_URL": stack.url} | (env or {})
    return subprocess.run(
        [str(OVHA), *words], capture_output=True, text=True, timeout=60, env=environ, check=False
    )


def register(stack: RunningStack, session_id: str) -> None:
    reply = requests.post(
        f"{stack.url}/api/sessions", json=register_body(session_id), auth=stack.auth, timeout=10
    )
    assert reply.status_code == 201, reply.text
    beat = {"lastChunk": "0002.mp4"}
    requests.put(f"{stack.url}/api/sessions/{session_id}/heartbeat", json=beat, auth=stack.auth, timeout=10)


def test_help_names_every_command(ops_stack: RunningStack) -> None:
    result = ovha(ops_stack, "--help")
    assert result.returncode == 0
    for command in ("sessions", "takeover", "failover", "backups", "dlq", "webhook", "validate"):
        assert command in result.stdout


def test_sessions_list_as_json_and_as_a_table(ops_stack: RunningStack) -> None:
    register(ops_stack, "ovha_rec1")
    listed = ovha(ops_stack, "--json", "sessions", "list")
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)["sessions"]
    assert {"ovha_rec1"} <= {s["sessionId"] for s in sessions}
    human = ovha(ops_stack, "sessions", "list")
    header, *rows = human.stdout.splitlines()
    assert header.split() == ["sessionId", "status", "epoch", "lastChunk", "lastHeartbeat", "clientHost"]
    assert any(row.startswith("ovha_rec1") and "RECORDING" in row and "0002.mp4" in row for row in rows)


def test_takeover_then_the_backup_is_listed_and_stopped(ops_stack: RunningStack) -> None:
    register(ops_stack, "ovha_rec2")
    taken = ovha(ops_stack, "--json", "takeover", "ovha_rec2")
    assert taken.returncode == 0, taken.stderr
    assert (json.loads(taken.stdout)["message"], json.loads(taken.stdout)["epoch"]) == ("Takeover started", 2)
    got = json.loads(ovha(ops_stack, "--json", "sessions", "get", "ovha_rec2").stdout)
    assert (got["status"], got["failovers"][-1]["reason"]) == ("FAILING_OVER", "manual")
    backups = ovha(ops_stack, "backups", "list")
    assert "ovha_rec2" in backups.stdout
    stopped = ovha(ops_stack, "backups", "stop", "ovha_rec2", "--force")
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.startswith("Backup container force stopped (ovha_rec2, force)")


def test_status_dlq_and_webhook_commands(ops_stack: RunningStack) -> None:
    status = json.loads(ovha(ops_stack, "--json", "failover", "status").stdout)
    assert status["enabled"] is True
    assert "stormGuard" in status
    assert "stormGuard  off" in ovha(ops_stack, "failover", "status").stdout
    assert json.loads(ovha(ops_stack, "--json", "dlq", "list").stdout)["count"] == 0
    assert ovha(ops_stack, "dlq", "redrive").stdout.strip() == "0 webhook(s) moved back for delivery"
    assert "dlqDepth" in json.loads(ovha(ops_stack, "--json", "webhook", "status").stdout)
    webhooks = ovha(ops_stack, "webhook", "status").stdout
    header = "name     health   downSeconds  lastError  failingSince  recoveredAt"
    assert f"{header}\ndefault  healthy  0.0" in webhooks
    assert "retry schedule  5s, 5m, 30m, 2h, 5h, 10h, 10h" in webhooks


def test_refusals_and_an_unreachable_controller_exit_non_zero_with_the_reason(
    ops_stack: RunningStack,
) -> None:
    missing = ovha(ops_stack, "sessions", "get", "nobody")
    assert (missing.returncode, missing.stderr.strip()) == (1, "ovha: HTTP 404: Session nobody not found")
    wrong = ovha(ops_stack, "sessions", "list", env={"HA_CONTROLLER_PASSWORD": "nope"})
    assert wrong.returncode == 1
    assert "HTTP 401" in wrong.stderr
    gone = ovha(ops_stack, "--url", "http://127.0.0.1:9", "sessions", "list")
    assert gone.returncode == 2
    assert "cannot reach the controller" in gone.stderr


def test_validate_checks_this_environment(ops_stack: RunningStack) -> None:
    given = {
        "SESSIONS_TABLE": "ovha-local-SessionsTable",
        "HA_CONTROLLER_USERNAME": "u",
        "HA_CONTROLLER_PASSWORD": "p",
    }
    good = ovha(ops_stack, "validate", env=given)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "configuration is valid" in good.stdout
    bad = ovha(ops_stack, "validate", env=given | {"HEARTBEAT_INTERVAL": "banana"})
    assert bad.returncode == 1
    assert "HEARTBEAT_INTERVAL" in bad.stderr
