"""Two witnesses before a takeover, and the takeover-storm guard: tell "recorders died" from
"we cannot hear them".

Heartbeats are one witness; S3 is the other. A recorder cut off from the controller but not
from S3 (a partition, an API outage, a proxy that died) still stores a chunk every chunk: its
silence is the controller's deafness, not its death. So an *unheard* session (below) whose
recorder stored a chunk of its epoch within APP_FAILOVER_S3_QUIET_AFTER (two chunks and 2 s by
default) is never taken over, whatever the fleet's size: it is shown `unheard` (the status
route, the `UnheardSessions` metric), and taken over once S3 goes quiet too. The listing costs
one request per unheard session, none for the healthy. A dead recorder stops storing chunks
long before its heartbeats time out, so a real death is taken over as fast as before.

The detector reads DynamoDB directly, so when the API cannot be reached (a bad deploy,
throttling, an API Gateway incident, a local stack that is itself overloaded) every healthy
recorder looks silent at once; taking them all over would launch a backup per recording and
fence every healthy primary when the API comes back. Kubernetes' node controller guards the
same way: when most nodes look dead at once, it doubts itself and stops evicting.

The rules, pure functions of what one sweep read:

* A session is *unheard* when it is silent for the heartbeat timeout, or its backup never
  heartbeated (its claim lapsed). Only unheard sessions are ever held: a hung ffmpeg behind
  heartbeats that do arrive is taken over as before.
* A *storm*: at least APP_STORM_MIN_SESSIONS sessions *quiet* (they missed a heartbeat: silent
  for one and a half intervals), that share or more of the sessions watched (APP_STORM_SHARE,
  0.3), on at least APP_STORM_MIN_HOSTS hosts. An unreachable API makes them all quiet at once;
  an overloaded controller makes heartbeats land late on every host; a media node dying is
  one host: not a storm, taken over on time. The share is lower than Kubernetes' 0.55 because
  a storm costs little here: S3 still tells the dead (below).
* In a storm an unheard session is held, unless S3 shows its recorder stopped storing chunks
  (no chunk of its epoch for APP_FAILOVER_S3_QUIET_AFTER): that one is dead, whatever the API
  says, and is taken over, at most APP_STORM_TAKEOVERS_PER_SWEEP a sweep. A recorder that never
  stored a chunk is held too in a storm: we cannot tell, and the heartbeats will. Outside a
  storm it is taken over (it may never have started).
* When a storm ends (the share falls below the threshold), every session gets one more
  heartbeat timeout, counted from the end of the storm, to be heard again: heartbeats
  return over a few seconds, not in one instant.

The state that outlives a sweep (when the storm began, when it ended) is one item in the
control table (CONTROL_TABLE), written only when it changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from hacore.chunks import StoredChunks
from hacore.failover.rules import BACKUP_START_TIMEOUT, HEARTBEAT_TIMEOUT
from hacore.models import SessionRecord
from hacore.settings import Settings
from hacore.versioned import Codec, DynamoItems, Items, MemoryItems

UNHEARD_REASONS = frozenset({HEARTBEAT_TIMEOUT, BACKUP_START_TIMEOUT})
GUARD_ITEM = "storm-guard"
UNHEARD_SHOWN = 100  # the ids kept for the status route; the metric counts them all


class Evidence(StrEnum):
    RECORDING = "recording"  # a chunk of its epoch stored within APP_FAILOVER_S3_QUIET_AFTER
    STOPPED = "stopped"  # it stored chunks, and none for APP_FAILOVER_S3_QUIET_AFTER
    UNKNOWN = "unknown"  # it never stored a chunk (just started, or a client without media)


class Verdict(StrEnum):
    TAKE_OVER = "take-over"
    HOLD_UNHEARD = "held: unheard"  # silent to us, but S3 shows its chunks arriving: alive
    HOLD_STORM = "held: storm"  # we cannot hear most recorders; S3 does not say this one died
    HOLD_RECOVERING = "held: recovering"  # the storm just ended; its heartbeat may be on its way
    RATE_LIMITED = "held: rate limit"  # dead by S3 during a storm, beyond this sweep's takeovers


@dataclass(frozen=True)
class GuardState:
    storm_since: float | None = None
    calm_since: float | None = None  # when the last storm ended
    version: int = 0
    unheard: tuple[str, ...] = ()  # the sessions the last sweep held as unheard (alive by S3)

    @property
    def storm(self) -> bool:
        return self.storm_since is not None


def unheard(record: SessionRecord, reason: str) -> bool:
    return reason in UNHEARD_REASONS


def host_of(record: SessionRecord) -> str:
    """The failure domain of the recorder that owns the session: the media node of the primary,
    the task of a backup (each Fargate task is its own)."""
    if record.epoch > 1 and record.launcherRef:
        return record.launcherRef
    return record.clientHost or record.clientId or record.sessionId


def is_storm(quiet: int, watched: int, hosts: set[str], settings: Settings) -> bool:
    """`quiet` of `watched` sessions missed a heartbeat; `hosts`: where (a sample of) them run."""
    return (
        quiet >= settings.storm_min_sessions
        and quiet >= settings.storm_share * max(watched, quiet)
        and len(hosts) >= settings.storm_min_hosts
    )


def next_state(state: GuardState, storm: bool, now: float) -> GuardState:
    if storm and not state.storm:
        return replace(state, storm_since=now, calm_since=None)
    if not storm and state.storm:
        return replace(state, storm_since=None, calm_since=now)
    return state


def evidence(stored: StoredChunks, record: SessionRecord, now: float, settings: Settings) -> Evidence:
    if stored.stored_since(record.epoch, now - settings.s3_quiet_after_s):
        return Evidence.RECORDING
    if record.epoch in stored.last_stored_at or None in stored.last_stored_at:
        return Evidence.STOPPED
    return Evidence.UNKNOWN


def judge(
    record: SessionRecord,
    reason: str,
    state: GuardState,
    now: float,
    settings: Settings,
    evidence_of: Callable[[], Evidence],
    node_heard: Callable[[], bool] = lambda: False,
) -> Verdict:
    """What this sweep does with one session the rules call stale. `evidence_of` reads S3, and
    is called only for an unheard one: the second witness. `node_heard`: its media node's watcher
    beat lately (`hacore.failover.nodes`), asked only in a storm: then the controller hears that
    node, and the recorder's silence is its own."""
    if not unheard(record, reason):
        return Verdict.TAKE_OVER
    if state.storm:  # many unheard at once: only those S3 shows dead, or whose node is heard, go
        if node_heard():
            return Verdict.TAKE_OVER
        return Verdict.TAKE_OVER if evidence_of() is Evidence.STOPPED else Verdict.HOLD_STORM
    recovering = state.calm_since is not None and reason == HEARTBEAT_TIMEOUT
    if (
        recovering
        and now - max(record.lastHeartbeatAt, state.calm_since or 0) <= settings.heartbeat_timeout_s
    ):
        return Verdict.HOLD_RECOVERING
    if evidence_of() is Evidence.RECORDING:  # the second witness: S3 sees it alive
        return Verdict.HOLD_UNHEARD
    return Verdict.TAKE_OVER


def _dump(state: GuardState) -> dict[str, Any]:
    return {
        "name": GUARD_ITEM,
        "version": state.version,
        "changedAt": time.time(),
        "stormSince": state.storm_since,
        "calmSince": state.calm_since,
        "unheard": list(state.unheard) or None,
    }


def _load(data: dict[str, Any]) -> GuardState:
    def number(name: str) -> float | None:
        return float(data[name]) if data.get(name) is not None else None

    return GuardState(
        number("stormSince"), number("calmSince"), int(data["version"]), tuple(data.get("unheard") or ())
    )


CODEC: Codec[GuardState] = Codec(key="name", dump=_dump, load=_load, version=lambda state: state.version)


class GuardStore:
    """The guard's state: one versioned item (`name` = storm-guard) in the control table. Without
    a table (a unit test, a bare local run) it lives in memory."""

    def __init__(self, client: Any | None, table: str | None) -> None:
        self._items: Items[GuardState] = (
            DynamoItems(client, table, CODEC) if client is not None and table else MemoryItems(CODEC)
        )

    def load(self) -> GuardState:
        return self._items.find(GUARD_ITEM) or GuardState()

    def save(self, state: GuardState) -> bool:
        """False: another detector changed it first (its judgement stands; ours is re-read next sweep)."""
        return self._items.put(replace(state, version=state.version + 1), state.version or None)
