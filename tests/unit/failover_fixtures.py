"""Shared pieces of the failover tests: a launcher double, sessions in given states."""

from __future__ import annotations

import threading
from typing import Any

from hacore.chunks import ChunkIndex
from hacore.failover.engine import FailoverEngine
from hacore.launchers import BackupInfo, BackupSpec, LaunchError
from hacore.models import Beat, Registration
from hacore.sessions.store import SessionStore
from hacore.settings import Settings
from tests.helpers import FakeClock, register_body


class RecordingLauncher:
    """A launcher double for unit tests of the engine: remembers launches, can be told to fail."""

    name = "recording"

    def __init__(self, fail: int = 0) -> None:
        self.launches: list[BackupSpec] = []
        self.stopped: list[tuple[str, bool]] = []
        self.fail = fail
        self._lock = threading.Lock()

    def launch(self, spec: BackupSpec) -> str:
        with self._lock:
            if self.fail:
                self.fail -= 1
                raise LaunchError("no capacity")
            self.launches.append(spec)
            return f"ref-{spec.session_id}-e{spec.epoch}"

    def stop(self, ref: str, force: bool = False) -> bool:
        """A graceful stop leaves the backup running while it finalizes; a forced one ends it."""
        info = self.describe(ref)
        self.stopped.append((ref, force))
        return info is not None and info.state == "running"

    def describe(self, ref: str) -> BackupInfo | None:
        for spec in self.launches:
            if f"ref-{spec.session_id}-e{spec.epoch}" == ref:
                state = "exited" if (ref, True) in self.stopped else "running"
                return BackupInfo(
                    ref, spec.session_id, spec.epoch, spec.start_chunk, state, self.name, spec.name
                )
        return None

    def list(self) -> list[BackupInfo]:
        infos = [self.describe(f"ref-{s.session_id}-e{s.epoch}") for s in self.launches]
        return [i for i in infos if i is not None and i.state == "running"]

    def health(self) -> dict[str, Any]:
        return {"launcher": self.name, "healthy": True}


class NoChunks(ChunkIndex):
    def __init__(self, newest: dict[str, int] | None = None) -> None:
        super().__init__(None, None)
        self._newest = newest or {}

    def newest(self, session_id: str) -> int | None:
        return self._newest.get(session_id)


class FencingChunks(NoChunks):
    """Remembers the fence markers a claim or a handover leaves."""

    def __init__(self) -> None:
        super().__init__()
        self.fences: list[tuple[str, int]] = []

    def fence(self, session_id: str, epoch: int) -> bool:
        self.fences.append((session_id, epoch))
        return True


def engine_for(
    store: SessionStore,
    settings: Settings,
    clock: FakeClock,
    launcher: RecordingLauncher | None = None,
    chunks: ChunkIndex | None = None,
) -> FailoverEngine:
    return FailoverEngine(store, launcher or RecordingLauncher(), chunks or NoChunks(), settings, clock)


def recording_session(store: SessionStore, clock: FakeClock, sid: str = "s1", chunks: int = 3) -> None:
    """A session that registered and stored `chunks` chunks, one per 10 s."""
    store.register(Registration.model_validate(register_body(sid)))
    for n in range(chunks):
        clock.advance(10)
        store.heartbeat(sid, Beat(lastChunk=f"{n:04d}.mp4"))
