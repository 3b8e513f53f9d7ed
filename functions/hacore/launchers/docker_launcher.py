"""Backups as Docker containers, with the original's labels.

The Docker client is made on first use and again after any failure: one failed
connection never disables failover until a restart (the original's fault).
Docker has no secret references outside swarm, so the controller password is passed
from the launcher's configuration (HA_CONTROLLER_PASSWORD), never from a session.
A backup runs as OpenVidu runs its recorders: on the network it names (host, on a media
node), with the node's recordings folder at /recordings (its `.env`).

The engine's events are its task-state changes: a backup container's `die` is reported as ECS
reports a stopped task (`stopped_events`), so the detector takes its session over at once. A
`die` the engine was asked for (a `kill` event first: `docker stop`, `docker kill`, this
launcher's stop) is a stop on purpose; an exit nobody asked for (a crash, the OOM killer, a
process killed inside) is not.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from hacore.launchers.base import BackupInfo, BackupSpec, LaunchError, stopped_event
from hacore.settings import Settings

log = logging.getLogger(__name__)
TYPE_LABEL = "container.type"
EVENTS_RETRY_S = 1.0


class DockerLauncher:
    name = "docker"

    def __init__(self, settings: Settings, base_env: dict[str, str]) -> None:
        self._settings = settings
        self._base_env = base_env
        self._docker: Any = None
        self._stopped: queue.Queue[dict[str, Any]] = queue.Queue()
        self._watching: threading.Thread | None = None

    def _client(self) -> Any:
        if self._docker is None:
            import docker

            client = docker.DockerClient(base_url=f"unix://{self._settings.docker_socket}", timeout=10)
            client.ping()
            self._docker = client
        return self._docker

    def _call(self, action: Any) -> Any:
        try:
            return action(self._client())
        except Exception:
            self._docker = None  # make a fresh client next time
            raise

    def launch(self, spec: BackupSpec) -> str:
        import docker.errors

        s = self._settings

        def run(client: Any) -> str:
            try:
                return client.containers.get(spec.name).id  # idempotent: this epoch already has its backup
            except docker.errors.NotFound:
                pass
            container = client.containers.run(
                f"{s.docker_image}:{s.docker_image_tag}",
                detach=True,
                name=spec.name,
                environment={**self._base_env, **spec.environment},
                network_mode=s.docker_network if s.docker_network == "host" else None,
                network=s.docker_network if s.docker_network not in (None, "host") else None,
                volumes={s.docker_recordings_path: {"bind": "/recordings", "mode": "rw"}}
                if s.docker_recordings_path
                else None,
                labels={
                    "session.id": spec.session_id,
                    TYPE_LABEL: "backup-recorder",
                    "created.by": "ovha-detector",
                    "start.chunk": spec.start_chunk,
                    "epoch": str(spec.epoch),
                },
            )
            return container.id

        try:
            return self._call(run)
        except Exception as error:
            raise LaunchError(f"docker run failed: {error}") from error

    def stop(self, ref: str, force: bool = False) -> bool:
        import docker.errors

        def stop(client: Any) -> bool:
            try:
                container = client.containers.get(ref)
            except docker.errors.NotFound:
                return False
            if container.status != "running":
                return False
            if force:
                container.kill()
            else:
                container.stop(timeout=120)
            return True

        return bool(self._call(stop))

    def describe(self, ref: str) -> BackupInfo | None:
        import docker.errors

        def describe(client: Any) -> BackupInfo | None:
            try:
                return self._info(client.containers.get(ref))
            except docker.errors.NotFound:
                return None

        return self._call(describe)

    def list(self) -> list[BackupInfo]:
        containers = self._call(
            lambda c: c.containers.list(filters={"label": f"{TYPE_LABEL}=backup-recorder"})
        )
        return [self._info(c) for c in containers]

    def health(self) -> dict[str, Any]:
        try:
            version = self._call(lambda c: c.version())
        except Exception as error:
            return {
                "launcher": self.name,
                "healthy": False,
                "error": f"{type(error).__name__}: {error}"[:300],
            }
        return {"launcher": self.name, "healthy": True, "engine": version.get("Version")}

    def stopped_events(self) -> list[dict[str, Any]]:
        """Each backup container that died since the last call, once, as ECS reports a stopped task.
        The first call starts following the engine's events (from then on)."""
        if self._watching is None or not self._watching.is_alive():
            self._watching = threading.Thread(target=self._follow_events, name="docker-events", daemon=True)
            self._watching.start()
        events = []
        while True:
            try:
                events.append(self._stopped.get_nowait())
            except queue.Empty:
                return events

    def _follow_events(self) -> None:
        """The engine's event stream for our containers; followed again, from where it broke, on error."""
        since = time.time()
        asked: set[str] = set()  # containers the engine was asked to kill or stop
        while True:
            try:
                stream = self._client().events(
                    since=int(since),
                    decode=True,
                    filters={"type": "container", "label": f"{TYPE_LABEL}=backup-recorder"},
                )
                for event in stream:
                    since = max(since, event.get("time", since))
                    self._on_event(event, asked)
            except Exception as error:
                self._docker = None
                log.warning("the engine's events broke off (%s); following again", error)
                time.sleep(EVENTS_RETRY_S)

    def _on_event(self, event: dict[str, Any], asked: set[str]) -> None:
        ref = event.get("id") or ""
        action = event.get("Action") or event.get("status") or ""
        if action == "kill":
            asked.add(ref)
        elif action == "start":
            asked.discard(ref)
        elif action == "die":
            attributes = (event.get("Actor") or {}).get("Attributes") or {}
            code = attributes.get("exitCode")
            self._stopped.put(
                stopped_event(
                    ref,
                    attributes.get("session.id"),
                    attributes.get("epoch"),
                    int(code) if code not in (None, "") else None,
                    on_purpose=ref in asked,
                )
            )
            asked.discard(ref)

    def _info(self, container: Any) -> BackupInfo:
        labels = container.labels or {}
        return BackupInfo(
            ref=container.id,
            session_id=labels.get("session.id"),
            epoch=int(labels["epoch"]) if "epoch" in labels else None,
            start_chunk=labels.get("start.chunk"),
            state="running" if container.status == "running" else container.status,
            launcher=self.name,
            name=container.name,
        )
