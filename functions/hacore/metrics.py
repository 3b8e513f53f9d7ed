"""CloudWatch metrics, written as EMF log lines: the one sink every part counts into.

Each function injects one sink: `EmfMetrics` around powertools' `Metrics` in Lambda (flushed per
invocation), `NoMetrics` where nobody reads them, a recording sink in tests. A metric with a
dimension of its own (a takeover's `Reason`) cannot share the function's flush, whose dimensions
are the function's: the sink writes it on its own line, with the function's `service` beside it,
so that an alarm on the service still sees it. The dashboard in template.yaml reads every name.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

NAMESPACE_DEFAULT = "OpenViduHA"


class MetricSink(Protocol):
    def add_metric(
        self,
        name: str,
        unit: Any,
        value: float,
        dimensions: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """`dimensions`: the metric's own (few values: a reason, never a session id); `metadata`:
        searchable in the logs, not a dimension (a session id would make a metric per session)."""


class NoMetrics:
    def add_metric(
        self,
        name: str,
        unit: Any,
        value: float,
        dimensions: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        return None


class EmfMetrics:
    """powertools' `Metrics` as the sink: plain metrics join its flush, dimensioned ones get a line."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    def add_metric(
        self,
        name: str,
        unit: Any,
        value: float,
        dimensions: dict[str, str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        unit = unit if isinstance(unit, MetricUnit) else MetricUnit(unit)
        if not dimensions and not metadata:
            self.metrics.add_metric(name=name, unit=unit, value=value)
            return
        namespace = (
            self.metrics.namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or NAMESPACE_DEFAULT
        )
        with single_metric(name=name, unit=unit, value=value, namespace=namespace) as metric:
            if self.metrics.service:
                metric.add_dimension(name="service", value=self.metrics.service)
            for key, text in (dimensions or {}).items():
                metric.add_dimension(name=key, value=text)
            for key, text in (metadata or {}).items():
                metric.add_metadata(key=key, value=text)

    def flush_metrics(self) -> None:
        self.metrics.flush_metrics()


def media_lost_seconds(epochs: list[int], gaps: list[dict[str, Any]]) -> float | None:
    """The time a recording lost to its failovers (the final report's gaps), or None when no
    failover happened: recordings that never failed over would only dilute the figure."""
    if len(set(epochs)) < 2:
        return None
    return round(sum(float(gap.get("seconds") or 0) for gap in gaps), 3)
