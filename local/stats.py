"""The one percentile the drills and the benchmarks report: the sample at that rank (no
interpolation), so a p95 is a value that was measured."""

from __future__ import annotations


def percentile(samples: list[float], q: float) -> float | None:
    """The `q`th percentile (0-100) of `samples`, or None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]
