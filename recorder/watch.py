"""The media-node watcher (`python -m recorder watch`): one per media node, beside OpenVidu, with
the node's Docker socket. OpenVidu never watches its recording containers; the node's engine
knows the instant one dies.

The rule it keeps: a recording container (it has a VIDEO_ID) that dies uncleanly, not by
OpenVidu's `q` (exit 0) nor fenced off (exit 3), is reported to the controller at once
(`POST /api/recorders/exited`, with its EPOCH: OpenVidu's own recorder is epoch 1). The
controller decides, in its one conditional claim, whether that recorder owned a live session.
A report that cannot be delivered is retried with backoff; the heartbeat timeout stays the
safety net behind it. Once reported, what the dead recorder left unstored on its disk goes to S3
under its epoch (`recorder.salvage`), in the background: the next death's report never waits
for it.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field, model_validator

from recorder.controller import WatcherCalls
from recorder.salvage import salvage
from recorder.settings_file import merged_environment, with_controller_url
from recorder.supervisor import backoff

log = logging.getLogger("recorder.watch")
CLEAN_EXITS = frozenset({0, 3})  # OpenVidu's `q`; fenced off by a newer epoch
REPORT_ATTEMPTS = 6


class WatchConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    controller_url: str = Field(
        alias="HA_CONTROLLER_URL", min_length=1, description="the controller's address"
    )
    username: str = Field("", alias="HA_CONTROLLER_USERNAME", description="the controller's Basic auth user")
    password: str = Field("", alias="HA_CONTROLLER_PASSWORD", repr=False, description="its password")
    hostname: str = Field(
        default_factory=socket.gethostname, alias="HOSTNAME", description="the media node's name"
    )
    heartbeat_interval: float = Field(
        10, alias="HEARTBEAT_INTERVAL", gt=0, description="seconds between the node's heartbeats"
    )

    @model_validator(mode="before")
    @classmethod
    def _original_controller_address(cls, data: Any) -> Any:
        return with_controller_url(data)


@dataclass(frozen=True)
class Exit:
    """A recording container's death worth reporting."""

    session_id: str
    ref: str
    exit_code: int | None
    epoch: int


def recording_exit(environment: Mapping[str, str], ref: str, exit_code: int | None) -> Exit | None:
    """The report a container's death makes, or None: not a recording container, or a clean exit."""
    session_id = environment.get("VIDEO_ID")
    if not session_id or exit_code in CLEAN_EXITS:
        return None
    return Exit(session_id, ref, exit_code, int(environment.get("EPOCH") or 1))


def container_environment(attrs: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment, from the engine's inspection (`KEY=value` lines)."""
    pairs = (line.partition("=") for line in (attrs.get("Config") or {}).get("Env") or [])
    return {key: value for key, _, value in pairs}


class Watcher:
    def __init__(
        self, engine: Any, calls: WatcherCalls, host: str, node_env: Mapping[str, str] | None = None
    ) -> None:
        """`node_env`: the node's recorder settings (its `.env` under the environment), which the
        salvage needs beside a dead container's own variables (the bucket, S3's credentials)."""
        self.engine = engine  # a docker.DockerClient
        self.calls = calls
        self.host = host
        self.node_env = dict(node_env or {})

    def beat(self, stop: threading.Event, interval: float) -> None:
        """Beats for the node every `interval` until `stop` is set: the controller hears the node
        apart from its recorders (its storm guard tells a silent recorder from deaf ears by it)."""
        failures = 0
        while True:
            try:
                reply = self.calls.node_heartbeat(self.host)
                failures = 0 if reply.status_code < 500 else failures + 1
                if reply.status_code >= 400:
                    log.warning("the node's heartbeat answered %s: %s", reply.status_code, reply.text[:200])
            except requests.RequestException as error:
                failures += 1
                log.warning("the node's heartbeat failed (%d in a row): %s", failures, error)
            delay = min(interval, backoff(failures + 1, jitter=True)) if failures else interval
            if stop.wait(delay):
                return

    def run(self, stop: threading.Event) -> None:
        """Follows the engine's `die` events until `stop` is set."""
        events = self.engine.events(decode=True, filters={"type": "container", "event": "die"})
        threading.Thread(target=lambda: (stop.wait(), events.close()), daemon=True).start()
        log.info("watching the recording containers of %s", self.host)
        for event in events:
            try:
                self.on_die(event)
            except Exception:  # one container's trouble never stops the watch
                log.exception("could not judge the death of container %s", event.get("id"))

    def on_die(self, event: Mapping[str, Any]) -> Exit | None:
        attributes = (event.get("Actor") or {}).get("Attributes") or {}
        code = attributes.get("exitCode")
        container = self.engine.containers.get(event["id"])
        environment = container_environment(container.attrs)
        found = recording_exit(environment, event["id"], None if code is None else int(code))
        if found is not None:
            self.report(found)
            threading.Thread(
                target=self.salvage,
                args=(container, environment),
                name=f"salvage-{found.session_id}",
                daemon=True,
            ).start()
        return found

    def salvage(self, container: Any, environment: Mapping[str, str]) -> list[int]:
        try:
            return salvage(container, {**self.node_env, **environment})
        except Exception:  # the chunks stay on the dead container's disk; the backup records on
            log.exception("could not salvage the chunks of container %s", container.id[:12])
            return []

    def report(self, found: Exit) -> None:
        for attempt in range(REPORT_ATTEMPTS):
            if attempt:
                time.sleep(backoff(attempt, jitter=True))
            try:
                reply = self.calls.recorder_exited(
                    found.session_id, found.ref, found.exit_code, found.epoch, self.host
                )
            except requests.RequestException as error:
                log.warning(
                    "could not report %s's recorder (attempt %d): %s", found.session_id, attempt + 1, error
                )
                continue
            if reply.status_code < 500 and reply.status_code != 429:
                log.warning(
                    "the recorder of %s (container %s, epoch %s) died with %s: %s",
                    found.session_id,
                    found.ref[:12],
                    found.epoch,
                    found.exit_code,
                    reply.text[:200],
                )
                return
        log.error(
            "the death of %s's recorder could not be reported: the heartbeat timeout decides",
            found.session_id,
        )


def main(environ: Mapping[str, str]) -> int:
    import docker

    environ = merged_environment(environ)
    config = WatchConfig.model_validate(environ)
    calls = WatcherCalls(config.controller_url, config.username, config.password)
    watcher = Watcher(docker.from_env(), calls, config.hostname, environ)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    threading.Thread(
        target=watcher.beat, args=(stop, config.heartbeat_interval), name="node-beat", daemon=True
    ).start()
    watcher.run(stop)
    return 0
