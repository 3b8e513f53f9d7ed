"""When a webhook that could not be delivered is tried again, and when the relay stops trying.

A schedule is a list of waits: attempt k+1 comes wait k after attempt k. The default, about a
day, follows the services customers compare us with (Svix: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
10 h). Each wait is carried by the SQS visibility timeout, so no step may exceed SQS's 12 h;
each gets +/-20% jitter so that webhooks that failed together do not come back together.
Who still sets the original's OPENVIDU_WEBHOOK_RETRY_ATTEMPTS / _RETRY_DELAY gets the schedule
they always had: doubling from the delay, capped at OPENVIDU_WEBHOOK_MAX_BACKOFF.

A time scale divides every wait (3600: one second stands for an hour), so a day's outage can be
run in a test or a bench in seconds.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

DEFAULT_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
MAX_STEP_S = 43_200  # SQS: a message's visibility timeout is at most 12 hours
MAX_SPAN_S = 6 * 86_400  # with the wait behind a recording's earlier webhook, inside 14 days' retention
JITTER = 0.2
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_STEP = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")


def parse_waits(text: str) -> list[float]:
    """`5s,5m,30m,2h` (or bare seconds) to seconds; a wrong step is named in the error."""
    waits = []
    for part in text.split(","):
        step = part.strip().lower()
        match = _STEP.match(step)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a wait (write it like 5s, 5m, 2h or 1d)")
        waits.append(float(match.group(1)) * _UNITS[match.group(2) or "s"])
    return waits


def legacy_waits(attempts: int, delay_ms: int, max_backoff_s: int) -> list[float]:
    """The original's budget: `attempts` tries, doubling from the delay, capped."""
    return [min(max_backoff_s, delay_ms / 1000 * 2**k) for k in range(attempts - 1)]


def check_waits(waits: Sequence[float]) -> None:
    if any(w > MAX_STEP_S for w in waits):
        raise ValueError("a wait may not exceed 12h: each wait is an SQS visibility timeout")
    if any(w < 0 for w in waits):
        raise ValueError("a wait may not be negative")
    if sum(waits) > MAX_SPAN_S:
        raise ValueError(
            f"the whole schedule is {format_wait(sum(waits))}; at most 6d fits SQS's 14 days' retention"
        )


def format_wait(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True)
class RetrySchedule:
    """Waits in schedule seconds; `scale` turns them into real ones."""

    waits: tuple[float, ...]
    scale: float = 1.0

    @property
    def attempts(self) -> int:
        return len(self.waits) + 1

    @property
    def span_s(self) -> float:
        """Real seconds from the first attempt to the last, without jitter."""
        return sum(self.waits) / self.scale

    def real(self, schedule_seconds: float) -> float:
        return schedule_seconds / self.scale

    def wait_after(self, failed: int, rng: Callable[[], float] = random.random) -> int | None:
        """Whole real seconds (SQS counts in seconds) before the attempt after `failed` failed
        attempts, or None once the schedule is spent."""
        if failed > len(self.waits):
            return None
        jittered = self.real(self.waits[failed - 1]) * (1 - JITTER + 2 * JITTER * rng())
        return min(MAX_STEP_S, math.ceil(round(jittered, 3)))

    def describe(self) -> list[str]:
        return [format_wait(w) for w in self.waits]
