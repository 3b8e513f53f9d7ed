"""The local runtime follows template.yaml: routes, environment, provisioning."""

from __future__ import annotations

import sys
import threading
import time
import types
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local.apigw import http_api_event, response_parts
from local.environment import function_environment
from local.gateway import Router
from local.provision import physical_name
from local.template import Template


def test_routes_come_from_the_template_most_specific_first() -> None:
    router = Router(Template.load())
    assert router.match("GET", "/actuator/health").function == "ApiFunction"
    assert router.match("PUT", "/api/sessions/x/heartbeat").path == "/api/{proxy+}"
    # every route is ANY: the function answers a method it does not take (405 with Allow)
    assert router.match("POST", "/actuator/health").function == "ApiFunction"
    assert router.match("GET", "/nothing") is None


class _OneFunction:
    """A template of one function, handled by a module written for the test."""

    def http_routes(self) -> list[tuple[str, str, str]]:
        return [("One", "ANY", "/one")]

    def handler(self, function: str) -> str:
        return "_ovha_environment_probe.handler"


PROBE = """
import threading, time
inside = 0                      # this environment's own state, as a resolver's current event is
released = threading.Event()
shared = __import__("_ovha_probe_shared")

def handler(event, context):
    global inside
    inside += 1
    try:
        if inside > 1:
            shared.overlaps.append(event)
        if event.get("wait"):   # a request that waits for another to the same function
            return {"released": shared.released.wait(5)}
        if event.get("release"):
            shared.released.set()
        time.sleep(0.01)
        return {"ok": True}
    finally:
        inside -= 1
"""


def test_concurrent_events_each_get_their_own_environment_as_in_lambda(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never two events in one environment at once (powertools' resolver keeps the event it answers
    on the instance); and an event waiting for another event to the same function is not stuck
    behind it (a takeover waits for a warm standby to accept through the API)."""
    (tmp_path / "_ovha_environment_probe.py").write_text(PROBE)
    shared = types.ModuleType("_ovha_probe_shared")
    shared.overlaps = []  # type: ignore[attr-defined]
    shared.released = threading.Event()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "_ovha_probe_shared", shared)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "_ovha_environment_probe", raising=False)
    router = Router(_OneFunction())  # type: ignore[arg-type]
    with ThreadPoolExecutor(8) as pool:
        waiting = pool.submit(router.invoke, "One", {"wait": True}, None)
        time.sleep(0.05)
        list(pool.map(lambda n: router.invoke("One", {"n": n}, None), range(32)))
        router.invoke("One", {"release": True}, None)
        assert waiting.result(timeout=10) == {"released": True}
    assert shared.overlaps == []  # type: ignore[attr-defined]


def test_function_environment_resolves_refs_to_local_names() -> None:
    names = {"SessionsTable": physical_name("SessionsTable")}
    env = function_environment(Template.load(), names, {"Profile": "dev"})
    assert env["SESSIONS_TABLE"] == "ovha-local-SessionsTable"
    assert env["APP_PROFILE"] == "dev"
    assert env["HA_SESSION_MAX_INACTIVE_TIME"] == "600"
    # The credentials secret is not made locally: that variable is left out, env credentials apply.
    assert "HA_CONTROLLER_CREDENTIALS_SECRET" not in env


def test_the_table_is_created_as_the_template_declares(dynamodb: Any) -> None:
    name = physical_name("SessionsTable")
    table = dynamodb.describe_table(TableName=name)["Table"]
    declared = Template.load().resources("AWS::DynamoDB::Table")["SessionsTable"]["Properties"]
    assert {i["IndexName"] for i in table["GlobalSecondaryIndexes"]} == {
        i["IndexName"] for i in declared["GlobalSecondaryIndexes"]
    }
    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["AttributeName"], ttl["TimeToLiveStatus"]) == ("expiresAt", "ENABLED")
    backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_v2_events_carry_what_api_gateway_sends() -> None:
    event = http_api_event(
        "put",
        "/api/sessions/a/heartbeat",
        "x=1&x=2",
        [("Content-Type", "application/json"), ("Cookie", "a=1; b=2"), ("X-Many", "1"), ("x-many", "2")],
        b'{"lastChunk":"0001.mp4"}',
    )
    assert event["version"] == "2.0"
    assert event["requestContext"]["http"]["method"] == "PUT"
    assert event["headers"]["x-many"] == "1,2"
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["isBase64Encoded"] is False
    binary = http_api_event("POST", "/x", "", [("Content-Type", "video/mp4")], b"\x00\xff")
    assert binary["isBase64Encoded"] is True


def test_response_parts_reads_v2_replies() -> None:
    status, headers, body = response_parts(
        {
            "statusCode": 201,
            "headers": {"a": "b"},
            "cookies": ["c=d"],
            "body": "aGk=",
            "isBase64Encoded": True,
        }
    )
    assert (status, body) == (201, b"hi")
    assert ("set-cookie", "c=d") in headers


def test_the_moto_server_fix_answers_as_moto_does() -> None:
    """local.moto_server reads the retention period alone; the answer must be moto's own."""
    import boto3
    from moto import mock_aws
    from moto.sqs.models import SQSBackend, sqs_backends

    from local.moto_server import retained

    original = SQSBackend.is_message_valid_based_on_retention_period
    assert original is not retained  # installed only in the server process, not here
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="deep", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="x")
        backend = sqs_backends["123456789012"]["us-east-1"]
        (message,) = backend.get_queue("deep")._messages
        assert retained(backend, "deep", message) is original(backend, "deep", message) is True
        message.sent_timestamp -= 61_000  # sent 61 s ago, kept for 60
        assert retained(backend, "deep", message) is original(backend, "deep", message) is False


def test_the_embedded_moto_completes_a_lifecycle_action_as_aws_answers_and_refuses_an_incomplete_one() -> (
    None
):
    """moto lacks CompleteLifecycleAction; the embedded server answers it (a drained node's hook)."""
    import subprocess

    import boto3
    import requests

    from local.runtime import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{url}/moto-api/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        autoscaling = boto3.client(
            "autoscaling",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id="x",
            aws_secret_access_key="x",
        )
        autoscaling.complete_lifecycle_action(
            LifecycleHookName="drain-recordings",
            AutoScalingGroupName="openvidu-media-nodes",
            LifecycleActionToken="87654321-4321-4321-4321-210987654321",
            LifecycleActionResult="CONTINUE",
        )
        refused = requests.post(
            url,
            data={"Action": "CompleteLifecycleAction", "Version": "2011-01-01", "LifecycleHookName": "h"},
            headers={
                "Authorization": "AWS4-HMAC-SHA256 Credential=x/20261204/us-east-1/autoscaling/aws4_request"
            },
            timeout=10,
        )
        assert refused.status_code == 400
        assert "AutoScalingGroupName" in refused.text
    finally:
        server.terminate()
        server.wait(timeout=10)
