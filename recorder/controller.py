"""The controller's HTTP contract, as the original scripts used it, plus EPOCH, and the standby
routes: every call the recorder makes to the controller is here. Nothing else."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from typing import Any

import requests

from recorder.config import AgentConfig
from recorder.imds import instance_id
from recorder.supervisor import backoff
from recorder.wire import Manifest

log = logging.getLogger("recorder.controller")
USER_AGENT = "recorder-session-manager/1.0"
REPORT_RETRY_MAX_S = 16.0
TIMEOUT = (3.05, 10)  # connect, read: a call to the controller never holds the recorder long


def retry_delay(failures: int, interval: float) -> float:
    """When to heartbeat next: the interval, or sooner after a failure (backoff with jitter, so a
    fleet whose controller comes back does not call it all in the same instant)."""
    return backoff(failures, cap=interval, jitter=True) if failures > 0 else interval


class Fenced(Exception):
    """409: a newer recorder owns the session. Stop recording at once."""


def http_session(username: str, password: str) -> requests.Session:
    http = requests.Session()
    http.auth = (username, password)
    http.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
    return http


class Controller:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self._http = http_session(config.username, config.password)
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
        instance = c.instance_id or instance_id(c.imds_url)
        if instance:
            body["instanceId"] = instance
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

    def report_final(self, manifest: Manifest, attempts: int = 1) -> None:
        """The final file, where it is, and what it holds: the controller tells the customer from
        it. Tried `attempts` times (a backup's report is all the customer will get); a fenced
        recorder's report is refused, and that is final too."""
        for attempt in range(attempts):
            if attempt:
                time.sleep(backoff(attempt + 2, cap=REPORT_RETRY_MAX_S))
            try:
                self._report_final(manifest)
                return
            except Fenced:
                log.warning("the controller says another epoch owns the session now")
                return
            except requests.RequestException as error:
                log.warning(
                    "could not report the final file (attempt %d of %d): %s", attempt + 1, attempts, error
                )

    def _report_final(self, manifest: Manifest) -> None:
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


class StandbyCalls:
    """A warm standby's three calls (`/api/standbys`): register, poll for an assignment, accept it.
    The replies are the standby's to judge (`recorder.standby`)."""

    def __init__(self, controller_url: str, username: str, password: str, standby_id: str) -> None:
        self._http = http_session(username, password)
        self._base = f"{controller_url.rstrip('/')}/api/standbys"
        self.standby_id = standby_id

    def register(self, host: str) -> requests.Response:
        body = {"standbyId": self.standby_id, "host": host}
        return self._http.post(self._base, json=body, timeout=TIMEOUT)

    def assignment(self) -> requests.Response:
        return self._http.get(f"{self._base}/{self.standby_id}/assignment", timeout=TIMEOUT)

    def accept(self, session_id: str, epoch: int) -> requests.Response:
        body = {"sessionId": session_id, "epoch": epoch}
        return self._http.put(f"{self._base}/{self.standby_id}/accept", json=body, timeout=TIMEOUT)


class WatcherCalls:
    """A media node's watcher's calls: a recording container died; the node is alive (`recorder.watch`)."""

    def __init__(self, controller_url: str, username: str, password: str) -> None:
        self._http = http_session(username, password)
        self._base = controller_url.rstrip("/")

    def recorder_exited(
        self, session_id: str, ref: str, exit_code: int | None, epoch: int, host: str
    ) -> requests.Response:
        body = {"sessionId": session_id, "ref": ref, "exitCode": exit_code, "epoch": epoch, "host": host}
        return self._http.post(f"{self._base}/api/recorders/exited", json=body, timeout=TIMEOUT)

    def node_heartbeat(self, host: str) -> requests.Response:
        """The node is alive, apart from its recorders (`hacore.failover.nodes`)."""
        return self._http.put(f"{self._base}/api/hosts/{host}/heartbeat", timeout=TIMEOUT)
