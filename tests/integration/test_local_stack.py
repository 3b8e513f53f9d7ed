"""The local stack over real HTTP: the recorders' calls, auth, limits, concurrency, the endpoint override."""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests

from tests.helpers import register_body
from tests.integration.conftest import ROOT, RunningStack, start_stack, stop_stack


def new_id() -> str:
    return f"ses_{uuid.uuid4().hex[:8]}"


def test_banner_names_the_default_credentials_and_how_to_change_them(stack: RunningStack) -> None:
    banner = stack.output()
    assert "recorder / rec0rd3r_2024!" in banner
    assert "HA_CONTROLLER_USERNAME=... HA_CONTROLLER_PASSWORD=... make up" in banner
    assert stack.url in banner


def test_a_recorders_life_over_http(stack: RunningStack, http: requests.Session) -> None:
    sid = new_id()
    created = http.post(f"{stack.url}/api/sessions", json=register_body(sid))
    assert created.status_code == 201
    for n in range(3):
        beat = http.put(
            f"{stack.url}/api/sessions/{sid}/heartbeat",
            data=json.dumps({"lastChunk": f"{n:04d}.mp4"}),
            headers={"User-Agent": "recorder-session-manager/1.0"},  # no Content-Type, like curl -d
        )
        assert beat.status_code == 200, beat.text
    session = http.get(f"{stack.url}/api/sessions/{sid}").json()
    assert (session["lastChunk"], session["status"]) == ("0002.mp4", "RECORDING")
    assert sid in {s["sessionId"] for s in http.get(f"{stack.url}/api/sessions").json()["sessions"]}
    assert http.put(f"{stack.url}/api/sessions/{sid}/stop").json()["message"] == "Session stopped"
    assert http.delete(f"{stack.url}/api/sessions/{sid}").status_code == 200
    assert http.get(f"{stack.url}/api/sessions/{sid}").status_code == 404


def test_auth_over_http(stack: RunningStack) -> None:
    anonymous = requests.get(f"{stack.url}/api/sessions", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    wrong = requests.get(f"{stack.url}/api/sessions", auth=("recorder", "nope"), timeout=5)
    assert wrong.status_code == 401
    assert requests.get(f"{stack.url}/api/sessions/health", timeout=5).json()["status"] == "healthy"
    assert requests.get(f"{stack.url}/actuator/health", timeout=5).json()["status"] == "UP"


def test_errors_over_http(stack: RunningStack, http: requests.Session) -> None:
    bad_json = http.put(f"{stack.url}/api/sessions/x/heartbeat", data=b"{nope")
    assert bad_json.status_code == 400
    assert "not valid JSON" in bad_json.json()["error"]
    too_big = http.post(f"{stack.url}/api/sessions", data=b"{" + b" " * (300 * 1024) + b"}")
    assert too_big.status_code == 413
    beyond_gateway = http.post(f"{stack.url}/api/sessions", data=b"x" * (10 * 1024 * 1024 + 1))
    assert beyond_gateway.status_code == 413
    assert http.get(f"{stack.url}/no/such/route").status_code == 404


def test_the_gateway_answers_every_body_and_every_method(stack: RunningStack, http: requests.Session) -> None:
    """API Gateway never drops a connection: bytes that are not UTF-8 under a JSON content type
    reach the handler (the API's 400 names the problem; the webhook relays them as they came),
    and a method the path does not take is a 405 naming those it does (a path no route has: 404),
    never http.server's 501."""
    sid = new_id()
    http.post(f"{stack.url}/api/sessions", json=register_body(sid))
    latin1 = http.put(
        f"{stack.url}/api/sessions/{sid}/heartbeat",
        data=b'{"lastChunk": "caf\xe9"}',
        headers={"Content-Type": "application/json"},
    )
    assert latin1.status_code == 400
    assert "JSON" in latin1.json()["error"]
    hook = requests.post(
        f"{stack.url}/openvidu/webhook",
        data=b'{"event": "caf\xe9"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert hook.json()["status"] == "received"  # answered; relayed byte for byte, as the original did
    for method in ("TRACE", "CONNECT", "BREW"):
        reply = http.request(method, f"{stack.url}/api/sessions")
        assert (reply.status_code, reply.headers.get("Allow")) == (405, "GET, POST"), method
        assert http.request(method, f"{stack.url}/nowhere").status_code == 404, method
    assert http.get(f"{stack.url}/api/sessions/{sid}").status_code == 200  # the connection lived on


def test_sixteen_recorders_heartbeating_at_once_all_land(stack: RunningStack, http: requests.Session) -> None:
    sids = [new_id() for _ in range(16)]
    for sid in sids:
        http.post(f"{stack.url}/api/sessions", json=register_body(sid))

    def recorder(sid: str) -> list[int]:
        return [
            requests.put(
                f"{stack.url}/api/sessions/{sid}/heartbeat",
                json={"lastChunk": f"{n:04d}.mp4"},
                auth=stack.auth,
                timeout=10,
            ).status_code
            for n in range(5)
        ]

    with ThreadPoolExecutor(16) as pool:
        statuses = [status for result in pool.map(recorder, sids) for status in result]
    assert statuses == [200] * 80
    assert {http.get(f"{stack.url}/api/sessions/{sid}").json()["lastChunk"] for sid in sids} == {"0004.mp4"}
    for sid in sids:  # these recorders were only requests: ended, not left for the detector to replace
        assert http.delete(f"{stack.url}/api/sessions/{sid}").status_code == 200


def test_writers_racing_on_one_session_all_land_and_the_chunk_never_regresses(
    stack: RunningStack, http: requests.Session
) -> None:
    sid = new_id()
    http.post(f"{stack.url}/api/sessions", json=register_body(sid))

    def beat(n: int) -> int:
        return requests.put(
            f"{stack.url}/api/sessions/{sid}/heartbeat",
            json={"lastChunk": f"{n:04d}.mp4"},
            auth=stack.auth,
            timeout=10,
        ).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(beat, range(24)))
    assert statuses == [200] * 24
    assert http.get(f"{stack.url}/api/sessions/{sid}").json()["lastChunk"] == "0023.mp4"
    assert http.delete(f"{stack.url}/api/sessions/{sid}").status_code == 200  # not left for the detector


def test_swagger_ui_and_openapi_are_served(stack: RunningStack) -> None:
    ui = requests.get(f"{stack.url}/swagger-ui.html", timeout=10)
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()
    assert (
        "/api/sessions/{sessionId}/heartbeat"
        in requests.get(f"{stack.url}/v3/api-docs", timeout=10).json()["paths"]
    )


def test_aws_endpoint_url_is_honoured(tmp_path: Path) -> None:
    from moto.server import ThreadedMotoServer

    from local.runtime import free_port

    port = free_port()
    external = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    external.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        running = start_stack(tmp_path, {"AWS_ENDPOINT_URL": endpoint})
        try:
            assert "AWS_ENDPOINT_URL" in running.output()
            sid = new_id()
            assert (
                requests.post(
                    f"{running.url}/api/sessions", json=register_body(sid), auth=running.auth, timeout=10
                ).status_code
                == 201
            )
            dynamodb = boto3.client("dynamodb", region_name="us-east-1", endpoint_url=endpoint)
            item = dynamodb.get_item(TableName="ovha-local-SessionsTable", Key={"sessionId": {"S": sid}})
            assert item["Item"]["clientId"]["S"] == "recorder-host1"
        finally:
            stop_stack(running)
    finally:
        external.stop()


def test_the_readme_tour_works_as_written(stack: RunningStack) -> None:
    """Runs the README's curl tour against this stack and checks each documented answer."""
    readme = (ROOT / "README.md").read_text()
    tour = readme.split("## Five-minute tour", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```bash\n(.*?)```", tour, re.S)
    assert commands, "the README has no tour"
    script = "set -euo pipefail\n" + "\n".join(commands).replace(
        "localhost:8080", stack.url.removeprefix("http://")
    )
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    for expected in re.findall(r"^# → (.+)$", tour, re.M):
        assert expected.strip() in result.stdout, f"README promises {expected!r}; got:\n{result.stdout}"
