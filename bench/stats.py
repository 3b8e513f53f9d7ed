"""Percentiles and the JSON line every benchmark prints."""

from __future__ import annotations

import json
import statistics
from typing import Any

from local.stats import percentile as _percentile


def percentile(samples: list[float], q: float) -> float:
    """`local.stats.percentile`, NaN when there are no samples (a JSON line's figure)."""
    value = _percentile(samples, q)
    return float("nan") if value is None else value


def latency_fields(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(statistics.fmean(ms), 3) if ms else float("nan"),
    }


def emit(name: str, **fields: Any) -> dict[str, Any]:
    line = {"bench": name, **fields}
    print(json.dumps(line), flush=True)
    return line
