"""CloudWatch metrics, written as EMF log lines: the sink the rules count into, and one-off
metrics that carry a dimension. The dashboard in template.yaml reads every name here.

The engine and the relay take a sink: powertools' `Metrics` in Lambda (flushed per invocation),
`NoMetrics` where nobody reads them. A metric with its own dimension (a takeover's reason) cannot
share the sink's flush, whose dimensions are the function's: it is written on its own line.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

NAMESPACE_DEFAULT = "OpenViduHA"


class MetricSink(Protocol):
    def add_metric(self, name: str, unit: Any, value: float) -> None: ...


class NoMetrics:
    def add_metric(self, name: str, unit: Any, value: float) -> None:
        return None


def emit(
    name: str,
    value: float,
    unit: str = "Count",
    dimension: tuple[str, str] | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """One metric on its own EMF line: a dimension of its own, and metadata (searchable in the
    logs, not a dimension: a session id would make a metric per session)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT)
    with single_metric(name=name, unit=MetricUnit(unit), value=value, namespace=namespace) as metric:
        if dimension is not None:
            metric.add_dimension(name=dimension[0], value=dimension[1])
        for key, text in (metadata or {}).items():
            metric.add_metadata(key=key, value=text)


def media_lost_seconds(epochs: list[int], gaps: list[dict[str, Any]]) -> float | None:
    """The time a recording lost to its failovers (the final report's gaps), or None when no
    failover happened: recordings that never failed over would only dilute the figure."""
    if len(set(epochs)) < 2:
        return None
    return round(sum(float(gap.get("seconds") or 0) for gap in gaps), 3)
