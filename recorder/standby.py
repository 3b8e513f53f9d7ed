"""Standby mode (`python -m recorder standby`, RECORDER_ACTION=standby): a recorder started before
it is needed, so that a takeover costs a poll and not a cold start: the image is pulled, Python
and the agent are loaded, and for the real source the capture stack is up (X server, PulseAudio,
a browser idle on a blank page, kept alive as a recording's), so the session's page is one
navigation away. A recording of another screen size gets a fresh stack.

The rule it keeps: a standby records only a session whose assignment it has *accepted*: the
acceptance is the controller's conditional ASSIGNED -> ACCEPTED for that session and epoch. A 409
or 410 means the takeover gave up on it (or it was retired): it exits without recording, and the
pool is refilled without it. Until then it polls the controller every STANDBY_POLL_INTERVAL s.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from recorder.config import AgentConfig
from recorder.controller import StandbyCalls
from recorder.settings_file import merged_environment
from recorder.stack import CaptureStack, StackBroken

log = logging.getLogger("recorder.standby")
RETIRED = 0  # a clean exit: nothing was recording, nothing to take over


class StandbyConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    standby_id: str = Field(
        alias="STANDBY_ID",
        min_length=1,
        description="the standby's own id (its session id until it takes one)",
    )
    controller_url: str = Field(alias="HA_CONTROLLER_URL", description="the controller's address")
    username: str = Field("", alias="HA_CONTROLLER_USERNAME", description="the controller's Basic auth user")
    password: str = Field("", alias="HA_CONTROLLER_PASSWORD", repr=False, description="its password")
    # Assignment latency is this plus one request: twice a second keeps a takeover under a second.
    poll_interval_s: float = Field(
        0.3,
        alias="STANDBY_POLL_INTERVAL",
        gt=0,
        le=30,
        description="seconds between polls for an assignment (its part of a takeover's latency)",
    )
    # The warm screen's size: a recording of another size gets a fresh stack (OpenVidu's default)
    resolution: str = Field(
        "1280x720",
        alias="STANDBY_RESOLUTION",
        pattern=r"^\d+x\d+$",
        description="the warm screen's size: a recording of another size gets a fresh stack",
    )
    hostname: str = Field(
        default_factory=socket.gethostname,
        alias="HOSTNAME",
        description="the media node's name, registered as the session's host",
    )
    # An idle standby that cannot reach its controller this long exits (its stack was deleted, or a
    # local stack stopped): nothing is recording, and a controller back up refills its pool.
    orphan_after_s: float = Field(
        300,
        alias="STANDBY_ORPHAN_AFTER",
        gt=0,
        description="an idle standby that cannot reach its controller this long exits",
    )


class Standby:
    def __init__(self, config: StandbyConfig, environ: Mapping[str, str]) -> None:
        self.config = config
        self.environ = dict(environ)
        self.stopping = threading.Event()
        self.stack: CaptureStack | None = None
        self._assigned = False
        self._heard_at = time.monotonic()
        self.calls = StandbyCalls(config.controller_url, config.username, config.password, config.standby_id)

    def serve(self) -> int:
        """Warm up, register, wait for a session; then record it as a backup would."""
        from recorder import agent  # the slow imports (boto3, the agent) happen now, not at takeover

        self.stack = self._warm_stack()
        try:
            if not self._register():
                return RETIRED
            assignment = self._wait_for_assignment()
        except StackBroken as error:  # its idle stack keeps dying: a sick host, not a standby
            log.error("standby %s: %s; exiting", self.config.standby_id, error)
            return RETIRED
        finally:
            if self.stack is not None and not self._assigned:
                self.stack.stop()
        if assignment is None:
            return RETIRED
        environ = self.environ | assignment["environment"] | {"RECORDER_ACTION": "run"}
        log.info(
            "standby %s takes over %s at epoch %s from chunk %s",
            self.config.standby_id,
            assignment["sessionId"],
            assignment["epoch"],
            assignment["startChunk"],
        )
        return agent.record(environ, self.stack)

    def _warm_stack(self) -> CaptureStack | None:
        """X server, PulseAudio and a browser on a blank page, for the real source; None otherwise."""
        identity = {
            "VIDEO_ID": self.config.standby_id,
            "RECORDER_ACTION": "run",
            "URL": "about:blank",
            "RESOLUTION": self.config.resolution,
            "HA_AWS_S3_BUCKET": self.environ.get("HA_AWS_S3_BUCKET", "unused"),
        }
        config = AgentConfig.model_validate(self.environ | identity)
        if config.source != "openvidu":
            return None
        stack = CaptureStack(config)
        stack.start()
        log.info("standby %s: capture stack warm on %s", self.config.standby_id, stack.display)
        return stack

    def _orphaned(self) -> bool:
        if time.monotonic() - self._heard_at < self.config.orphan_after_s:
            return False
        log.error(
            "standby %s has not reached its controller for %.0f s: exiting",
            self.config.standby_id,
            self.config.orphan_after_s,
        )
        return True

    def _register(self) -> bool:
        while not self.stopping.is_set() and not self._orphaned():
            try:
                reply = self.calls.register(self.config.hostname)
            except requests.RequestException as error:  # the controller down: a standby waits for it
                log.warning("registering failed: %s", error)
            else:
                self._heard_at = time.monotonic()
                if reply.status_code == 201:
                    log.info("standby %s is ready", self.config.standby_id)
                    return True
                log.error("registering answered %s: %s", reply.status_code, reply.text[:300])
                if 400 <= reply.status_code < 500 and reply.status_code != 429:
                    return False
            self.stopping.wait(2.0)
        return False

    def _wait_for_assignment(self) -> dict[str, Any] | None:
        while not self.stopping.wait(self.config.poll_interval_s):
            if self.stack is not None:
                self.stack.check()  # the idle stack is kept alive as a recording's would be
            try:
                reply = self.calls.assignment()
            except requests.RequestException as error:
                log.warning("polling failed: %s", error)
                if self._orphaned():
                    return None
                continue
            self._heard_at = time.monotonic()
            if reply.status_code == 204:
                continue
            if reply.status_code in (404, 409, 410):
                log.info("standby %s is retired (%s): exiting", self.config.standby_id, reply.status_code)
                return None
            if reply.status_code != 200:
                log.warning("polling answered %s: %s", reply.status_code, reply.text[:200])
                continue
            assignment: dict[str, Any] = reply.json()
            self._assigned = self._accept(assignment)
            return assignment if self._assigned else None
        return None

    def _accept(self, assignment: dict[str, Any]) -> bool:
        """Retried on a lost reply (an acceptance is idempotent); anything but 200 means: do not record."""
        for _ in range(3):
            try:
                accepted = self.calls.accept(assignment["sessionId"], assignment["epoch"])
            except requests.RequestException as error:
                log.warning("accepting failed: %s", error)
                continue
            if accepted.status_code == 200:
                return True
            log.warning("the assignment was withdrawn (%s): exiting", accepted.status_code)
            return False
        return False


def main(environ: Mapping[str, str]) -> int:
    environ = merged_environment(environ)
    standby = Standby(StandbyConfig.model_validate(environ), environ)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: standby.stopping.set())
    return standby.serve()
