"""Free TCP ports for a listener that binds a moment later (Chrome's DevTools, a local stack).

The rule it keeps: a port handed out here is outside the kernel's ephemeral range, so no
outgoing connection in the meantime can take it as its local port (a port the kernel picked
with `bind(0)` is in that range, and a busy test run reuses those within a second: a stack
then failed to start with "Address already in use"). It is drawn at random, so two callers
racing for one are unlikely to meet, and probed, so a port already listened on is skipped.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 10000


def ephemeral_start() -> int:
    """The first port the kernel gives outgoing connections (32768 on Linux by default)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1", rng: random.Random | None = None) -> int:
    """A port nothing listens on now, below the ephemeral range."""
    pick = rng or random.SystemRandom()
    top = max(ephemeral_start(), LOWEST + 1000)
    for _ in range(200):
        port = pick.randrange(LOWEST, top)
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError:
                continue
            return port
    raise OSError(f"no free port between {LOWEST} and {top} on {host}")
