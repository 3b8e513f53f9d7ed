"""How the OpenVidu emulator runs a recording container: as a Docker container of the recorder image,
exactly as OpenVidu does (`ComposedRecordingService`), or as a local process standing in for one.

The rule both keep is OpenVidu's (`shared/docs/openvidu-contract.md`): the container is named
`recording_<id>`, gets only the variables OpenVidu sets, sees the recordings folder at `/recordings`,
and runs in a working directory where OpenVidu's `echo 'q' > stop` lands; OpenVidu reaches inside
only by `exec` (the `q`, and in quick-start mode the start and stop commands), and removes it after.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from local import ROOT

# What the recorder image itself sets (its Dockerfile's ENV): a process container gets this too.
IMAGE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ", "HOME")
DOCKER_SOCKET = "/var/run/docker.sock"
SHM_SIZE = 536_870_912  # OpenVidu's default shmSize for a recording container
STOP_LINE = "echo 'q' > stop"


@dataclass
class Container:
    """One recording container (or a session's, in quick-start mode), whatever runs it."""

    name: str
    workdir: Path  # the process runtime's working directory; the Docker runtime keeps its logs here
    process: subprocess.Popen[bytes] | None = None
    docker: Any = None
    env: dict[str, str] = field(default_factory=dict)


class Runtime(Protocol):
    name: str

    def run(self, name: str, workdir: Path, env: dict[str, str]) -> Container: ...
    def alive(self, container: Container) -> bool: ...
    def exec(self, container: Container, line: str, timeout: float) -> int:
        """A shell line inside, in its working directory (`bash -c`); its exit code (124: timed out).
        OpenVidu's backgrounded start is a line ending in `&`."""
        ...

    def wait(self, container: Container, timeout: float) -> bool:
        """True once it has exited, False if it still runs after `timeout`."""
        ...

    def kill(self, container: Container) -> None: ...
    def remove(self, container: Container) -> None: ...
    def main_pid(self, container: Container) -> int | None:
        """The container's first process, as the host sees it (what a drill's faults aim at)."""
        ...

    def exit_code(self, container: Container) -> int | None: ...


class ProcessRuntime:
    """A process in a fresh working directory stands in for the container; `/recordings` is
    `RECORDINGS_PATH`, and `./composed_quick_start.sh` a shim to the agent."""

    name = "process"

    def __init__(
        self, recordings_path: Path, command: list[str] | None = None, image_env: dict[str, str] | None = None
    ) -> None:
        self.recordings_path = recordings_path
        self.command = command or [sys.executable, "-m", "recorder"]
        self.extra_env = image_env if image_env is not None else {}  # the caller may add to it later

    def image_env(self, workdir: Path) -> dict[str, str]:
        environment = {k: os.environ[k] for k in IMAGE_ENV_KEYS if k in os.environ}
        return (
            environment
            | self.extra_env
            | {
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "RECORDINGS_PATH": str(self.recordings_path),
                "QUICK_START_STATE": str(workdir / "quick-start.json"),
            }
        )

    def run(self, name: str, workdir: Path, env: dict[str, str]) -> Container:
        workdir.mkdir(parents=True, exist_ok=True)
        script = workdir / "composed_quick_start.sh"
        script.write_text(f'#!/bin/bash\nexec {shlex.quote(sys.executable)} -m recorder quick-start "$@"\n')
        script.chmod(0o755)
        full_env = self.image_env(workdir) | env
        command = list(self.command)
        if env.get("RECORDING_TYPE") == "COMPOSED_QUICK_START":
            command.append("quick-start")
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=full_env,
            stdout=(workdir / "container.log").open("wb"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # a process group of its own stands for the container's namespaces (a ^C here is not its
            # stop); what an exec starts joins it, so removing the container ends that too
            process_group=0,
        )
        return Container(name, workdir, process=process, env=full_env)

    def alive(self, container: Container) -> bool:
        return container.process is not None and container.process.poll() is None

    def exec(self, container: Container, line: str, timeout: float) -> int:
        if not self.alive(container):
            return 1  # `docker exec` on a dead container fails
        assert container.process is not None
        call = [shutil.which("bash") or "/bin/bash", "-c", line]  # the image's bash, whatever its PATH
        # in the container's process group, as an exec runs in its namespaces: removed with it
        inside = {"cwd": container.workdir, "env": container.env, "process_group": container.process.pid}
        try:
            return subprocess.run(call, **inside, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124

    def wait(self, container: Container, timeout: float) -> bool:
        if container.process is None:
            return True
        try:
            container.process.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self, container: Container) -> None:
        """SIGKILL to every process in it (its process group stands for the container's)."""
        if container.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(container.process.pid, signal.SIGKILL)
            container.process.wait(timeout=10)

    def remove(self, container: Container) -> None:
        """Whatever still runs in it goes, its first process or not (an exec's recording, say)."""
        self.kill(container)

    def main_pid(self, container: Container) -> int | None:
        return container.process.pid if container.process is not None else None

    def exit_code(self, container: Container) -> int | None:
        return container.process.poll() if container.process is not None else None


class DockerRuntime:
    """The recorder image on a real engine, as OpenVidu runs it: network host, the recordings folder
    bind-mounted at `/recordings`, OpenVidu's shm size, and nothing but OpenVidu's variables."""

    name = "docker"

    def __init__(self, recordings_path: Path, image: str) -> None:
        from local import engine

        self.recordings_path = recordings_path
        self.image = image
        self.client = engine.client(timeout=120)

    def run(self, name: str, workdir: Path, env: dict[str, str]) -> Container:
        import docker.errors

        workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(docker.errors.NotFound):
            self.client.containers.get(name).remove(force=True)  # OpenVidu removes a leftover too
        container = self.client.containers.run(
            self.image,
            name=name,
            detach=True,
            network_mode="host",
            shm_size=SHM_SIZE,
            environment=env,
            volumes={str(self.recordings_path): {"bind": "/recordings", "mode": "rw"}},
        )
        return Container(name, workdir, docker=container, env=env)

    def watch(self, host: str) -> Any:
        """The media node's watcher, as docs/failover.md runs it: the recorder image with the
        engine's socket and the node's recordings folder (its .env names the controller)."""
        return self.client.containers.run(
            self.image,
            entrypoint=["/opt/ovha/venv/bin/python", "-m", "recorder", "watch"],
            detach=True,
            network_mode="host",
            environment={"HOSTNAME": host},
            volumes={
                DOCKER_SOCKET: {"bind": DOCKER_SOCKET, "mode": "rw"},
                str(self.recordings_path): {"bind": "/recordings", "mode": "ro"},
            },
        )

    def alive(self, container: Container) -> bool:
        import docker.errors

        try:
            container.docker.reload()
        except docker.errors.NotFound:
            return False
        return container.docker.status in {"created", "running"}

    def exec(self, container: Container, line: str, timeout: float) -> int:
        import docker.errors

        if not self.alive(container):
            return 1
        try:
            # the engine's exec has no deadline of its own: `timeout` inside gives it one
            result = container.docker.exec_run(["timeout", f"{timeout:g}", "bash", "-c", line])
        except docker.errors.APIError:
            return 1
        return int(result.exit_code or 0)

    def wait(self, container: Container, timeout: float) -> bool:
        import docker.errors
        import requests

        try:
            container.docker.wait(timeout=timeout)
            return True
        except docker.errors.NotFound:
            return True
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return not self.alive(container)

    def kill(self, container: Container) -> None:
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):
            container.docker.kill()
        self.wait(container, 10)

    def remove(self, container: Container) -> None:
        """The container's log is kept beside the process runtime's, then it goes (OpenVidu removes it)."""
        import docker.errors

        with contextlib.suppress(docker.errors.APIError):
            (container.workdir / "container.log").write_bytes(container.docker.logs())
        with contextlib.suppress(docker.errors.APIError):
            container.docker.remove(force=True)

    def main_pid(self, container: Container) -> int | None:
        return container_pid(container.docker) if self.alive(container) else None

    def exit_code(self, container: Container) -> int | None:
        if self.alive(container):
            return None
        return int(container.docker.attrs["State"]["ExitCode"])


def container_pid(container: Any) -> int | None:
    """A running container's main process on the host (0 when it has none)."""
    container.reload()
    return int(container.attrs["State"]["Pid"]) or None


def crash(container: Any) -> None:
    """Its main process SIGKILLed from the host, as a crash or the OOM killer ends it: the engine is
    not asked (no `kill` event), so the `die` that follows is nobody's stop."""
    pid = container_pid(container)
    if pid:
        os.kill(pid, signal.SIGKILL)


def docker_runtime(recordings_path: Path, image: str | None = None) -> DockerRuntime:
    """The recorder image on this machine's engine (`IMAGE`, else the one `make image` builds). The
    process runtime is the emulator's own default (it carries the emulator's `image_env`)."""
    return DockerRuntime(recordings_path, image or os.environ.get("IMAGE") or "openvidu-ha-recorder:latest")
