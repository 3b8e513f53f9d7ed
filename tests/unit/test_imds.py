"""The recorder names its EC2 instance from IMDSv2 (token first), over real HTTP on localhost."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from recorder.imds import instance_id

TOKEN = "AQAEAExampleToken=="


class Imds(BaseHTTPRequestHandler):
    """IMDSv2 as EC2 answers it: a PUT for a token, then reads that must carry it (401 without)."""

    answer = "i-0b1c2d3e4f5a6b7c8"

    def do_PUT(self) -> None:
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self._reply(200 if self.path == "/latest/api/token" and ttl else 400, TOKEN)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            self._reply(401, "")
        else:
            self._reply(200 if self.path == "/latest/meta-data/instance-id" else 404, self.answer)

    def _reply(self, status: int, body: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def imds() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Imds)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_instance_id_comes_from_imdsv2_with_its_token(imds: str) -> None:
    assert instance_id(imds) == "i-0b1c2d3e4f5a6b7c8"


def test_off_ec2_or_off_it_is_none_and_nothing_waits(imds: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert instance_id("off") is None
    assert instance_id("http://127.0.0.1:9") is None  # nothing listens: refused at once
    monkeypatch.setattr(Imds, "answer", "not-an-instance")
    assert instance_id(imds) is None  # an answer that is no instance id is not taken
