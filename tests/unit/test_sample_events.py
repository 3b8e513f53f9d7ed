"""The sample events in events/ (for `sam local invoke`) stay valid for the real handler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from local.apigw import LocalContext
from local.runtime import ORIGINAL_PASSWORD, ORIGINAL_USERNAME
from tests.helpers import FakeClock

EVENTS = Path(__file__).resolve().parents[2] / "events"
ORDER = ["register", "heartbeat", "get-session", "list-active", "health", "actuator-health"]
EXPECTED = {"register": 201}
# The detector's: a media node's end (tests/unit/test_drain.py reads each, the local stack's
# EventBridge takes them: tests/integration/test_drain_events.py)
HOST_EVENTS = {"spot-interruption", "instance-terminate-lifecycle", "instance-stopping"}


def test_every_sample_event_is_exercised() -> None:
    assert {p.stem for p in EVENTS.glob("*.json")} - {"env"} == set(ORDER) | HOST_EVENTS


@pytest.fixture
def handler(store: SessionStore, clock: FakeClock) -> Api:
    local = Settings.from_env(
        {
            "HA_CONTROLLER_USERNAME": ORIGINAL_USERNAME,
            "HA_CONTROLLER_PASSWORD": ORIGINAL_PASSWORD,
            "SESSIONS_TABLE": "ovha-local-SessionsTable",
        }
    )
    return Api(ApiDeps(local, store, CredentialSource(local), clock))


def test_sample_events_in_order(handler: Api) -> None:
    for name in ORDER:
        event = json.loads((EVENTS / f"{name}.json").read_text())
        reply = handler(event, LocalContext("ApiFunction"))
        assert reply["statusCode"] == EXPECTED.get(name, 200), (name, reply["body"])
