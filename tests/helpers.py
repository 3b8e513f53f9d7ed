"""Small test helpers: a clock the test moves, and a client that speaks v2 events to a resolver."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.apigw import LocalContext, http_api_event, response_parts

USER, PASSWORD = "recorder", "s3cret-for-tests"


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)


class ApiClient:
    """Calls a handler (event, context) with the same events API Gateway would send."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        auth: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> Reply:
        sent = dict(headers or {})
        if auth == "default":
            sent["Authorization"] = basic()
        elif auth:
            sent["Authorization"] = auth
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        if data:
            sent.setdefault("Content-Type", "application/json")
        path, _, query = path.partition("?")
        event = http_api_event(method, path, query, sent.items(), data)
        status, header_list, payload = response_parts(self.app(event, LocalContext("test")))
        return Reply(status, {k.lower(): v for k, v in header_list}, payload)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.call("DELETE", path, **kw)


def register_body(session_id: str = "ses_A~1", **extra: Any) -> dict[str, Any]:
    """What the original session-register.sh sends."""
    body = {
        "sessionId": session_id,
        "clientId": "recorder-host1",
        "clientHost": "10.0.0.5",
        "uniqueSessionId": "ses_A_1700000000",
        "originalSessionId": "ses_A",
        "status": "started",
        "recordingJson": {
            "id": session_id,
            "name": "rec",
            "outputMode": "COMPOSED",
            "resolution": "1280x720",
        },
        "environment": {
            "videoId": session_id,
            "videoName": "rec",
            "videoFormat": "mp4",
            "chunkTimeSize": "10",
            "isRecoveryContainer": "false",
        },
        "metadata": {"source": "test"},
    }
    body.update(extra)
    return body


def fragmented_chunk(path: Path, seconds: float) -> Path:
    """A chunk as the segment muxer writes it: fragmented MP4, H.264 and AAC, half-second fragments."""
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"),
            *("-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:v", "libx264"),
            *("-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags"),
            *("+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "500000", str(path)),
        ],
        check=True,
        timeout=60,
    )
    return path


@dataclass
class Counted:
    name: str
    value: float
    dimensions: dict[str, str]
    metadata: dict[str, str]


class RecordedMetrics:
    """A metric sink that keeps every metric it is given, with its dimensions and metadata (what
    powertools' `Metrics` is in Lambda); `values` and `sums` read them by name."""

    def __init__(self) -> None:
        self.counted: list[Counted] = []

    def add_metric(
        self,
        name: str,
        unit: Any,
        value: float,
        dimensions: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.counted.append(Counted(name, value, dimensions or {}, metadata or {}))

    @property
    def values(self) -> dict[str, list[float]]:
        by_name: dict[str, list[float]] = {}
        for counted in self.counted:
            by_name.setdefault(counted.name, []).append(counted.value)
        return by_name

    @property
    def sums(self) -> dict[str, float]:
        return {name: sum(values) for name, values in self.values.items()}
