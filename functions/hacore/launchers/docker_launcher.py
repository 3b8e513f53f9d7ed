"""Backups as Docker containers, with the original's labels.

The Docker client is made on first use and again after any failure: one failed
connection never disables failover until a restart (the original's fault).
Docker has no secret references outside swarm, so the controller password is passed
from the launcher's configuration (HA_CONTROLLER_PASSWORD), never from a session.
"""

from __future__ import annotations

from typing import Any

from hacore.launchers.base import BackupInfo, BackupSpec, LaunchError
from hacore.settings import Settings

TYPE_LABEL = "container.type"


class DockerLauncher:
    name = "docker"

    def __init__(self, settings: Settings, base_env: dict[str, str]) -> None:
        self._settings = settings
        self._base_env = base_env
        self._docker: Any = None

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
                network=s.docker_network,
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
