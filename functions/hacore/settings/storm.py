"""The takeover-storm guard (hacore.failover.guard): when this many sessions, this share of those
watched, on this many hosts, miss heartbeats at once, the controller doubts its ears."""

from __future__ import annotations

from pydantic import Field

from hacore.settings.types import Concern, OptionalText


class StormSettings(Concern):
    control_table: OptionalText = Field(
        None, alias="CONTROL_TABLE", description="the control table (the guard's state)"
    )
    storm_share: float = Field(
        0.3, alias="APP_STORM_SHARE", gt=0, le=1, description="the share of watched sessions quiet at once"
    )
    storm_min_sessions: int = Field(
        3, alias="APP_STORM_MIN_SESSIONS", ge=2, le=10_000, description="at least this many sessions quiet"
    )
    storm_min_hosts: int = Field(
        2, alias="APP_STORM_MIN_HOSTS", ge=1, le=1000, description="on this many hosts"
    )
    storm_takeovers_per_sweep: int = Field(
        5,
        alias="APP_STORM_TAKEOVERS_PER_SWEEP",
        ge=1,
        le=1000,
        description="in a storm, at most this many takeovers a sweep (of those S3 shows dead)",
    )
