"""The media nodes' own heartbeats: each node's watcher (`python -m recorder watch`) beats for
its node (`PUT /api/hosts/{host}/heartbeat`), apart from its recorders.

What the storm guard makes of it: when most recorders go quiet at once the guard doubts its own
ears and holds takeovers. A node whose watcher is heard lately proves the controller hears that
node: its recorders' silence is theirs, so they are taken over, storm or not. A node that
vanished (its watcher silent with its recorders) stays one host among the quiet, as before.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hacore.versioned import Codec, Items

PREFIX = "node#"
KEEP_S = 86400.0  # a node not heard for a day is forgotten


@dataclass(frozen=True)
class Node:
    host: str
    lastSeenAt: float
    version: int = 0


def _dump(node: Node) -> dict[str, Any]:
    return {
        "name": PREFIX + node.host,
        "host": node.host,
        "lastSeenAt": node.lastSeenAt,
        "version": node.version,
        "expiresAt": int(node.lastSeenAt + KEEP_S),
    }


def _load(data: dict[str, Any]) -> Node:
    return Node(data["host"], float(data["lastSeenAt"]), int(data["version"]))


CODEC: Codec[Node] = Codec(key="name", dump=_dump, load=_load, version=lambda n: n.version)


class Nodes:
    def __init__(self, items: Items[Node], clock: Callable[[], float] = time.time) -> None:
        self.items = items
        self.clock = clock

    def beat(self, host: str) -> Node:
        """The node's watcher is alive. One write; a lost race is another beat of the same node."""
        now = self.clock()
        current = self.items.find(PREFIX + host)
        node = Node(host, now, current.version + 1 if current else 0)
        self.items.put(node, current.version if current else None)
        return node

    def last_seen(self, host: str) -> float | None:
        node = self.items.find(PREFIX + host)
        return node.lastSeenAt if node is not None else None

    def heard_since(self, moment: float) -> set[str]:
        """The nodes whose watcher beat after `moment` (one scan of the few node items)."""
        return {n.host for n in self.items.scan(PREFIX) if n.lastSeenAt > moment}
