"""Backups as local processes: what `make up` and the failover drill use.

Bookkeeping lives in files (one JSON per backup under APP_PROCESS_STATE_DIR), not in
this process's memory: a restarted controller still lists and stops the backups it
started (the original lost them on restart). A PID is trusted only together with the
process start time recorded at launch, so a reused PID is never signalled.

Two things ECS does are played here too: APP_PROCESS_LAUNCH_DELAY holds a backup back as
Fargate's cold start would (the process waits, then becomes the recorder), and a process that
exits is reported once, as ECS's "Task State Change" event to STOPPED (`stopped_events`),
with its exit code and whether the controller stopped it on purpose.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hacore.launchers.base import BackupInfo, BackupSpec, LaunchError, stopped_event
from hacore.settings import Settings


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/pid/stat), or None if it is gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


# The children this process started, by pid: kept so that their exit codes are read here (an
# unreferenced Popen is reaped by subprocess's own clean-up, and its exit code lost with it).
_children: dict[int, subprocess.Popen[bytes]] = {}


def _exit_code(pid: int) -> int | None:
    """An exited child's code (negative: killed by that signal), collecting it; None otherwise."""
    child = _children.get(pid)
    if child is not None:
        return child.poll()
    with contextlib.suppress(ChildProcessError):  # not our child (started before a restart)
        os.waitpid(pid, os.WNOHANG)
    return None


class ProcessLauncher:
    name = "process"

    def __init__(
        self,
        command: list[str],
        state_dir: Path,
        base_env: dict[str, str],
        cwd: Path | None = None,
        delay: float = 0.0,
    ) -> None:
        self._delay = delay
        self._command = command
        self._state = state_dir
        self._base_env = base_env
        self._cwd = cwd

    @classmethod
    def from_settings(cls, settings: Settings, base_env: dict[str, str]) -> ProcessLauncher:
        command = (
            shlex.split(settings.process_command)
            if settings.process_command
            else [sys.executable, "-m", "recorder"]
        )
        return cls(command, Path(settings.process_state_dir), base_env, delay=settings.process_launch_delay_s)

    def launch(self, spec: BackupSpec) -> str:
        self._state.mkdir(parents=True, exist_ok=True)
        record_path = self._state / f"{spec.token}.json"
        if record_path.exists():  # idempotent: this session and epoch already have their backup
            return json.loads(record_path.read_text())["ref"]
        log_path = self._state / f"{spec.name}.log"
        environment = {**os.environ, **self._base_env, **spec.environment}
        command = self._command
        if self._delay > 0:  # the cold start happens in the child: launching never blocks a sweep
            command = ["sh", "-c", 'sleep "$0" && exec "$@"', f"{self._delay:g}", *command]
        try:
            with log_path.open("ab") as log:
                child = subprocess.Popen(
                    command,
                    env=environment,
                    cwd=self._cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
        except OSError as error:
            raise LaunchError(f"cannot start {self._command[0]}: {error}") from error
        _children[child.pid] = child
        ref = f"process:{child.pid}:{spec.token[:8]}"
        record = {
            "ref": ref,
            "pid": child.pid,
            "startTime": _start_time(child.pid),
            "sessionId": spec.session_id,
            "epoch": spec.epoch,
            "startChunk": spec.start_chunk,
            "name": spec.name,
            "startedAt": time.time(),
            "log": str(log_path),
            "command": self._command,
            "action": spec.action,
        }
        self._write(record_path, record)
        return ref

    @staticmethod
    def _write(path: Path, record: dict[str, Any]) -> None:
        temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(record))
        temporary.replace(path)

    def stop(self, ref: str, force: bool = False) -> bool:
        record = self._find(ref)
        if record is None or not self._alive(record):
            return False
        self._update(ref, stoppedOnPurpose=True)
        try:
            os.killpg(record["pid"], signal.SIGKILL if force else signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def describe(self, ref: str) -> BackupInfo | None:
        record = self._find(ref)
        return None if record is None else self._info(record)

    def list(self) -> list[BackupInfo]:
        return [info for info in (self._info(r) for r in self._records()) if info.state == "running"]

    def health(self) -> dict[str, Any]:
        return {
            "launcher": self.name,
            "healthy": True,
            "command": self._command,
            "stateDir": str(self._state),
        }

    def stopped_events(self) -> list[dict[str, Any]]:
        """Each backup process that exited since the last call, once, as ECS reports a stopped task."""
        events = []
        for record in self._records():
            if record.get("reported") or self._alive(record):
                continue
            code = record.get("exitCode", _exit_code(record["pid"]))
            self._update(record["ref"], reported=True, exitCode=code)
            events.append(stopped_task_event(record, code))
        return events

    def _update(self, ref: str, **changes: Any) -> None:
        for path in self._state.glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                record = json.loads(path.read_text())
                if record.get("ref") == ref:
                    self._write(path, record | changes)
                    return

    def _records(self) -> list[dict[str, Any]]:
        if not self._state.exists():
            return []
        records = []
        for path in sorted(self._state.glob("*.json")):
            try:
                records.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue
        return records

    def _find(self, ref: str) -> dict[str, Any] | None:
        return next((r for r in self._records() if r["ref"] == ref), None)

    def _alive(self, record: dict[str, Any]) -> bool:
        if "exitCode" in record:
            return False
        _exit_code(record["pid"])
        started = _start_time(record["pid"])
        return started is not None and started == record["startTime"]

    def _info(self, record: dict[str, Any]) -> BackupInfo:
        return BackupInfo(
            ref=record["ref"],
            session_id=record["sessionId"],
            epoch=record["epoch"],
            start_chunk=record["startChunk"],
            state="running" if self._alive(record) else "exited",
            launcher=self.name,
            name=record["name"],
            started_at=record["startedAt"],
            detail={"pid": record["pid"], "log": record["log"]},
        )


def kill_recorded(state: Path) -> None:
    """SIGKILL to every process group a process launcher recorded in `state`: what a drill, a
    bench or a test does after its stack (backups outlive a controller by design)."""
    for path in state.glob("*.json"):
        with contextlib.suppress(OSError, ProcessLookupError, KeyError, ValueError):
            os.killpg(json.loads(path.read_text())["pid"], signal.SIGKILL)


def stopped_task_event(record: dict[str, Any], exit_code: int | None) -> dict[str, Any]:
    """The EventBridge event ECS sends when a task stops, for a local backup process."""
    return stopped_event(
        record["ref"], record["sessionId"], record["epoch"], exit_code, bool(record.get("stoppedOnPurpose"))
    )
