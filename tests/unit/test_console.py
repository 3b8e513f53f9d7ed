"""The operator console's server side: its three files behind the API's credentials, off in prod
unless asked for, and the two read routes its recording page needs beyond the session (the
manifest with links, the webhook journal)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlparse

import boto3
import pytest
from moto import mock_aws

from api.app import Api, ApiDeps
from hacore.auth import CredentialSource
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from hacore.webhooks.events import parse_event
from hacore.webhooks.ingest import Envelope
from hacore.webhooks.journal import Journal
from local.provision import physical_name
from tests.helpers import PASSWORD, USER, ApiClient, FakeClock
from tests.unit.conftest import TABLE

BUCKET = "recordings"
STATE_TABLE = physical_name("WebhookStateTable")


def console_api(store: SessionStore, clock: FakeClock, **env: str) -> ApiClient:
    settings = Settings.from_env(
        {
            "HA_CONTROLLER_USERNAME": USER,
            "HA_CONTROLLER_PASSWORD": PASSWORD,
            "SESSIONS_TABLE": TABLE,
            "HA_AWS_S3_BUCKET": BUCKET,
            "WEBHOOK_STATE_TABLE": STATE_TABLE,
            **env,
        }
    )
    return ApiClient(Api(ApiDeps(settings, store, CredentialSource(settings), clock)))


def register(api: ApiClient, sid: str = "rec-1") -> None:
    assert (
        api.post("/api/sessions", {"sessionId": sid, "clientId": "c1", "clientHost": "node-a"}).status == 201
    )


def test_the_console_is_served_behind_the_apis_credentials(store: SessionStore, clock: FakeClock) -> None:
    api = console_api(store, clock)
    refused = api.get("/console", auth=None)
    assert refused.status == 401
    assert refused.headers["www-authenticate"].startswith("Basic")  # the browser asks for them
    assert api.get("/console/console.js", auth=None).status == 401
    page = api.get("/console")
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert b'src="/console/console.js"' in page.raw
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy  # nothing loads from elsewhere
    assert "script-src 'self'" in policy
    script = api.get("/console/console.js")
    assert (script.status, script.headers["content-type"]) == (200, "text/javascript; charset=utf-8")
    assert api.get("/console/console.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("name", ["app.py", "..%2Fconsole.py", "index.htm", "console.js.map"])
def test_nothing_but_the_consoles_files_is_served(store: SessionStore, clock: FakeClock, name: str) -> None:
    assert console_api(store, clock).get(f"/console/{name}").status == 404


def test_the_console_is_off_in_prod_unless_asked_for(store: SessionStore, clock: FakeClock) -> None:
    assert console_api(store, clock, APP_PROFILE="prod").get("/console").status == 404
    assert console_api(store, clock, APP_PROFILE="prod", APP_CONSOLE="true").get("/console").status == 200
    assert console_api(store, clock, APP_CONSOLE="false").get("/console").status == 404


def test_every_file_the_page_names_is_served_and_nothing_is_fetched_from_elsewhere(
    store: SessionStore, clock: FakeClock
) -> None:
    api = console_api(store, clock)
    page = api.get("/console").raw.decode()
    for name in ("console.css", "console.js"):
        assert f"/console/{name}" in page
    script = api.get("/console/console.js").raw.decode()
    assert "http://" not in script.replace('"http://www.w3.org/2000/svg"', "")
    assert "https://" not in script
    assert "innerHTML" not in script  # the API's values are written as text, never as markup


def test_the_manifest_route_says_not_finalized_then_links_the_file_and_every_log(
    store: SessionStore, clock: FakeClock
) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        api = console_api(store, clock)
        assert api.get("/api/sessions/nobody/manifest").status == 404
        register(api)
        waiting = api.get("/api/sessions/rec-1/manifest")
        assert waiting.status == 404
        assert "not finalized yet" in waiting.json["error"]
        manifest = {
            "sessionId": "rec-1",
            "final": "rec-1/rec-1.mp4",
            "bucket": BUCKET,
            "duration": 20.0,
            "chunks": [],
            "gaps": [],
            "logs": ["rec-1/logs/e1/agent.log", "rec-1/logs/e2/agent.log"],
        }
        s3.put_object(Bucket=BUCKET, Key="rec-1/manifest.json", Body=json.dumps(manifest).encode())
        s3.put_object(Bucket=BUCKET, Key="rec-1/rec-1.mp4", Body=b"mp4")
        found = api.get("/api/sessions/rec-1/manifest")
        assert found.status == 200
        body: dict[str, Any] = found.json
        assert body["manifest"]["duration"] == 20.0
        assert urlparse(body["final"]).path.endswith("/rec-1/rec-1.mp4")
        assert "Signature" in body["final"] or "X-Amz-Signature" in body["final"]
        assert sorted(body["logs"]) == manifest["logs"]


def test_the_webhook_journal_reads_a_recordings_webhooks_in_the_order_they_came(
    store: SessionStore, clock: FakeClock, dynamodb: Any
) -> None:
    api = console_api(store, clock)
    assert api.get("/api/sessions/rec-1/webhooks").status == 404
    register(api)
    journal = Journal(dynamodb, STATE_TABLE, clock)

    def webhook(number: int, status: str, recording: str = "rec-1") -> tuple[Envelope, Any]:

        body = json.dumps({"event": "recordingStatusChanged", "id": recording, "status": status})
        return Envelope(
            f"w{number}", 100.0 + number, "POST", "application/json", body, False, "default"
        ), parse_event(body)

    for number, status in ((2, "stopped"), (1, "started"), (3, "ready")):
        journal.note(*webhook(number, status), "retrying", 1, "attempt 1 failed (HTTP 503)")
    journal.note(*webhook(1, "started"), "delivered", 2, None)  # its next turn: the same item
    journal.note(*webhook(9, "started", "rec-2"), "delivered", 1, None)  # another recording's
    listed = api.get("/api/sessions/rec-1/webhooks").json
    assert [(w["webhookId"], w["status"], w["state"], w["attempts"]) for w in listed["webhooks"]] == [
        ("w1", "started", "delivered", 2),
        ("w2", "stopped", "retrying", 1),
        ("w3", "ready", "retrying", 1),
    ]
    assert listed["webhooks"][1]["detail"] == "attempt 1 failed (HTTP 503)"


def test_a_journal_that_cannot_be_written_never_stops_a_delivery(clock: FakeClock) -> None:
    class Down:
        def put_item(self, **_: Any) -> None:
            raise ConnectionError("DynamoDB unreachable")

    body = json.dumps({"event": "recordingStatusChanged", "id": "rec-1", "status": "ready"})

    Journal(Down(), STATE_TABLE, clock).note(
        Envelope("w1", 1.0, "POST", "application/json", body, False, "default"),
        parse_event(body),
        "delivered",
        1,
        None,
    )  # logged, not raised
