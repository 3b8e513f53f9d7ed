"""What a drill reads to judge a run: the controller's view of the session, the chunks and the
manifest in S3, and what the customer's endpoint was told. `wait` polls any of them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import requests

from local.drill.stack import BUCKET, DrillStack
from recorder.layout import chunk_prefix, manifest_key, parse_chunk_key


def wait(check: Callable[[], Any], seconds: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"gave up waiting {seconds:.0f}s for {what}")


class Probes:
    """Reads about one recording (`video_id`: OpenVidu's recording id, set once it started)."""

    def __init__(self, stack: DrillStack, video_id: str) -> None:
        self.stack = stack
        self.video_id = video_id
        self.chunk = float(stack.timing["chunkTimeSizeSeconds"])
        self.http = requests.Session()
        self.http.auth = stack.auth
        self.s3 = stack.client("s3")

    def session(self) -> dict[str, Any]:
        return self.http.get(f"{self.stack.url}/api/sessions/{self.video_id}", timeout=10).json()

    def stored_chunks(self) -> list[dict[str, Any]]:
        page = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=chunk_prefix(self.video_id))
        return page.get("Contents", [])

    def chunk_meta(self, key: str) -> dict[str, str]:
        return self.s3.head_object(Bucket=BUCKET, Key=key)["Metadata"]

    def stored_spans(self) -> dict[tuple[int, int], tuple[float, float]]:
        """(chunk number, epoch) -> (wall-clock start, duration), as each recorder wrote them in S3."""
        spans = {}
        for item in self.stored_chunks():
            parsed = parse_chunk_key(item["Key"])
            if parsed is None:
                continue
            meta = self.chunk_meta(item["Key"])
            spans[(parsed[0], int(meta["epoch"]))] = (float(meta["wallclock-start"]), float(meta["duration"]))
        return spans

    def customer_terminal(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """What the customer's endpoint was told about this recording, in order; its terminal event."""

        def events() -> list[dict[str, Any]]:
            bodies = [json.loads(r["body"] or b"{}") for r in list(self.stack.customer.requests)]
            return [
                b
                for b in bodies
                if b.get("event") == "recordingStatusChanged" and b.get("id") == self.video_id
            ]

        wait(
            lambda: any(e.get("status") in ("ready", "failed") for e in events()),
            120,
            "the customer's terminal",
        )
        time.sleep(max(2.0, 2 * self.chunk))  # a second terminal would arrive in this time
        seen = events()
        statuses = [e.get("status") for e in seen]
        terminals = [e for e in seen if e.get("status") in ("ready", "failed")]
        first = terminals[0]
        return {
            "status": first.get("status"),
            "count": len(terminals),
            "events": statuses,
            "after_stopped": "stopped" in statuses
            and statuses.index("stopped") < statuses.index(first["status"]),
            "synthesized": "ha" in first,
            "complete": first.get("status") == "ready" and self.names_the_whole_file(first, manifest),
        }

    def names_the_whole_file(self, event: dict[str, Any], manifest: dict[str, Any]) -> bool:
        """The size the customer was told is the final file's (in S3, or OpenVidu's folder)."""
        if event.get("ha", {}).get("key"):
            stored = self.s3.head_object(Bucket=event["ha"]["bucket"], Key=event["ha"]["key"])
            return int(event["size"]) == stored["ContentLength"] and manifest["final"] == event["ha"]["key"]
        local = self.stack.recordings / self.video_id / "drill.mp4"
        return local.exists() and int(event["size"]) == local.stat().st_size

    def first_chunk_of_epoch(self, epoch: int) -> float | None:
        for item in self.stored_chunks():
            if self.chunk_meta(item["Key"]).get("epoch") == str(epoch):
                return item["LastModified"].timestamp()
        return None

    def first_chunk_after(self, moment: float) -> bool:
        return any(item["LastModified"].timestamp() > moment + self.chunk for item in self.stored_chunks())

    def manifest(self) -> dict[str, Any] | None:
        try:
            body = self.s3.get_object(Bucket=BUCKET, Key=manifest_key(self.video_id))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return json.loads(body)
