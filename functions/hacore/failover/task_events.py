"""ECS's "Task State Change" event to STOPPED, read as a `RecorderStopped` (the local process
launcher raises the same event for a backup process that exits)."""

from __future__ import annotations

from typing import Any

from hacore.failover.rules import RecorderStopped

DETAIL_TYPE = "ECS Task State Change"
ON_PURPOSE = frozenset({"UserInitiated"})  # StopTask: the controller's stop, or an operator's


def recorder_stopped(event: dict[str, Any], container: str = "recorder") -> RecorderStopped | None:
    """None for anything that is not a stopped task of ours (another state, another container)."""
    if event.get("detail-type") != DETAIL_TYPE:
        return None
    detail = event.get("detail") or {}
    if detail.get("lastStatus") != "STOPPED" or not detail.get("taskArn"):
        return None
    environment: dict[str, str] = {}
    for override in (detail.get("overrides") or {}).get("containerOverrides", []):
        if override.get("name", container) == container:
            environment.update({e["name"]: e["value"] for e in override.get("environment", [])})
    codes = [c.get("exitCode") for c in detail.get("containers", []) if c.get("name", container) == container]
    return RecorderStopped(
        ref=detail["taskArn"],
        session_id=environment.get("VIDEO_ID"),
        exit_code=codes[0] if codes else None,
        on_purpose=detail.get("stopCode") in ON_PURPOSE,
    )
