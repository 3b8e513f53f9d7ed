"""The controller's HTTP contract, as the original scripts used it, plus EPOCH. Nothing else."""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict
from typing import Any

import requests

from recorder.config import AgentConfig
from recorder.finalize import Manifest

log = logging.getLogger("recorder.controller")
USER_AGENT = "recorder-session-manager/1.0"
TIMEOUT = (3.05, 10)  # connect, read: a call to the controller never holds the recorder long
RETRY_FIRST_S = 0.5  # a failed heartbeat is retried after this, doubling up to the heartbeat interval


def retry_delay(failures: int, interval: float) -> float:
    """When to heartbeat next: the interval, or sooner after a failure (backoff with jitter, so a
    fleet whose controller comes back does not call it all in the same instant)."""
    if failures <= 0:
        return interval
    return min(interval, RETRY_FIRST_S * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)


class Fenced(Exception):
    """409: a newer recorder owns the session. Stop recording at once."""


class Controller:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._http = requests.Session()
        self._http.auth = (config.username, config.password)
        self._http.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
        self._base = f"{config.controller_url.rstrip('/')}/api/sessions"

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> requests.Response:
        reply = self._http.request(
            method, f"{self._base}{path}", data=json.dumps(body or {}), timeout=TIMEOUT
        )
        if reply.status_code == 409:
            raise Fenced(reply.text)
        return reply

    def register(self) -> None:
        c = self.config
        body = {
            "sessionId": c.video_id,
            "clientId": f"recorder-{c.hostname}",
            "clientHost": c.hostname,
            "status": "started",
            "environment": c.registered_environment(),
            "metadata": {"epoch": c.epoch},
        }
        if c.recording_json:
            try:
                body["recordingJson"] = json.loads(c.recording_json)
            except ValueError:
                body["recordingJson"] = c.recording_json
        reply = self._call("POST", "", body)
        if reply.status_code == 400 and "already exists" in reply.text:
            log.info("session %s was registered already (a restarted agent)", c.video_id)
        elif reply.status_code != 201:
            raise RuntimeError(f"register answered {reply.status_code}: {reply.text[:300]}")

    def heartbeat(self, last_chunk: int | None, restarts: int, health: dict[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"epoch": self.config.epoch, "captureRestarts": restarts}
        if health is not None:
            body["captureHealth"] = health
        if last_chunk is not None:
            body["lastChunk"] = f"{last_chunk:04d}.mp4"
        reply = self._call("PUT", f"/{self.config.video_id}/heartbeat", body)
        if reply.status_code >= 500 or reply.status_code == 429:  # the controller's trouble: retried
            raise requests.HTTPError(f"heartbeat answered {reply.status_code}", response=reply)
        if reply.status_code != 200:
            log.warning("heartbeat answered %s: %s", reply.status_code, reply.text[:200])

    def set_status(self, status: str) -> None:
        self._call("PUT", f"/{self.config.video_id}/status", {"status": status})

    def report_final(self, manifest: Manifest) -> None:
        """What the final file is and where (S3, OpenVidu's folder, or owed to S3): the controller
        marks the session and tells the customer's app from it."""
        body = {
            "epoch": self.config.epoch,
            "bucket": manifest.bucket,
            "key": manifest.final,
            "local": manifest.local,
            "s3Pending": manifest.s3Pending,
            "size": manifest.size,
            "duration": manifest.duration,
            "hasAudio": manifest.hasAudio,
            "hasVideo": manifest.hasVideo,
            "epochs": manifest.epochs,
            "gaps": [asdict(gap) for gap in manifest.gaps],
            "chunks": sum(1 for c in manifest.chunks if c.included),
            "excluded": manifest.excluded,
            "missing": manifest.missing,
            "finalizedBy": manifest.finalizedBy,
        }
        reply = self._call("PUT", f"/{self.config.video_id}/final", body)
        if reply.status_code != 200:
            raise requests.HTTPError(f"final report answered {reply.status_code}: {reply.text[:300]}")

    def set_recording_path(self, path: str) -> None:
        self._call("PUT", f"/{self.config.video_id}/recording-path", {"recordingPath": path})
