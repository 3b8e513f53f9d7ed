"""The standby's side, over real HTTP against a scripted controller: it records only an
assignment whose acceptance landed, exits on 410 or a withdrawn assignment, and rides out a
controller that is down."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from recorder import agent
from recorder.standby import RETIRED, Standby, StandbyConfig

ASSIGNMENT = {
    "sessionId": "s1",
    "epoch": 2,
    "startChunk": "0003",
    "environment": {"VIDEO_ID": "s1", "EPOCH": "2", "START_CHUNK": "0003"},
    "assignedAt": 1.0,
}


class Script:
    """What the controller answers, per route, in order (the last answer repeats)."""

    def __init__(self, **answers: list[tuple[int, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def answer(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        self.calls.append((method, path, body))
        route = {"POST": "register", "GET": "poll", "PUT": "accept"}[method]
        queue = self.answers[route]
        return queue.pop(0) if len(queue) > 1 else queue[0]


@pytest.fixture
def controller() -> Iterator[tuple[str, Script]]:
    script = Script(register=[(201, {})], poll=[(204, None)], accept=[(200, {})])

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            status, reply = script.answer(self.command, self.path, body)
            payload = b"" if reply is None else json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, *_: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", script
    server.shutdown()


def standby(url: str) -> Standby:
    environ = {
        "STANDBY_ID": "sb1",
        "HA_CONTROLLER_URL": url,
        "STANDBY_POLL_INTERVAL": "0.01",
        "RECORDER_SOURCE": "synthetic",
        "HA_AWS_S3_BUCKET": "b",
    }
    return Standby(StandbyConfig.model_validate(environ), environ)


def test_an_accepted_assignment_is_recorded_with_the_backups_environment(
    controller: tuple[str, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = controller
    script.answers["poll"] = [(204, None), (204, None), (200, ASSIGNMENT)]
    recorded: list[dict[str, str]] = []
    monkeypatch.setattr(agent, "record", lambda environ, warm: recorded.append(environ) or 0)
    assert standby(url).serve() == 0
    (environ,) = recorded
    assert (environ["VIDEO_ID"], environ["EPOCH"], environ["START_CHUNK"]) == ("s1", "2", "0003")
    assert environ["RECORDER_ACTION"] == "run"
    assert environ["HA_CONTROLLER_URL"] == url  # its own settings stay under the assignment's
    assert ("PUT", "/api/standbys/sb1/accept", {"sessionId": "s1", "epoch": 2}) in script.calls


@pytest.mark.parametrize("refusal", [409, 410])
def test_a_withdrawn_assignment_is_never_recorded(
    controller: tuple[str, Script], monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    url, script = controller
    script.answers["poll"] = [(200, ASSIGNMENT)]
    script.answers["accept"] = [(refusal, {"error": "withdrawn"})]
    monkeypatch.setattr(agent, "record", lambda *_: pytest.fail("recorded a withdrawn assignment"))
    assert standby(url).serve() == RETIRED


def test_a_retired_standby_exits_and_a_controller_error_is_waited_out(
    controller: tuple[str, Script], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, script = controller
    script.answers["poll"] = [(503, {"error": "down"}), (503, {"error": "down"}), (410, {"error": "retired"})]
    monkeypatch.setattr(agent, "record", lambda *_: pytest.fail("a retired standby recorded"))
    assert standby(url).serve() == RETIRED
    assert [c[0] for c in script.calls].count("GET") == 3


def test_a_standby_whose_controller_is_gone_exits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing listens there any more (a stack deleted, a local stack stopped): it does not poll forever."""
    from local.runtime import free_port

    environ = {
        "STANDBY_ID": "sb1",
        "HA_CONTROLLER_URL": f"http://127.0.0.1:{free_port()}",
        "STANDBY_POLL_INTERVAL": "0.01",
        "STANDBY_ORPHAN_AFTER": "0.5",
        "RECORDER_SOURCE": "synthetic",
    }
    monkeypatch.setattr(agent, "record", lambda *_: pytest.fail("an orphaned standby recorded"))
    assert Standby(StandbyConfig.model_validate(environ), environ).serve() == RETIRED
