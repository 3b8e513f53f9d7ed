"""When a recorder counts as dead or hung, and what the detector does about it (hacore.failover,
hacore.lifecycle). Timing defaults suit a 10 s chunk; `HA_TIMING=fast` selects the 2 s profile
the drills use (`TIMING_PROFILES`): an explicit environment variable always wins."""

from __future__ import annotations

from pydantic import Field, model_validator

from hacore.settings.types import Concern, Flag, OptionalInt, Seconds

# Defaults per timing profile; an explicit environment variable always wins.
TIMING_PROFILES: dict[str, dict[str, float]] = {
    "default": {
        "CHUNK_TIME_SIZE": 10,
        "HEARTBEAT_INTERVAL": 10,
        "APP_FAILOVER_HEARTBEAT_TIMEOUT": 30,
        "APP_FAILOVER_STUCK_CHUNK_TIMEOUT": 60,
        "APP_FAILOVER_CHECK_INTERVAL": 10,
        "APP_FAILOVER_START_GRACE": 60,
        "APP_FAILOVER_BACKUP_START_TIMEOUT": 60,
        "APP_TERMINAL_TIMEOUT": 300,
    },
    "fast": {
        "CHUNK_TIME_SIZE": 2,
        "HEARTBEAT_INTERVAL": 2,
        "APP_FAILOVER_HEARTBEAT_TIMEOUT": 6,
        "APP_FAILOVER_STUCK_CHUNK_TIMEOUT": 12,
        "APP_FAILOVER_CHECK_INTERVAL": 2,
        "APP_FAILOVER_START_GRACE": 20,
        "APP_FAILOVER_BACKUP_START_TIMEOUT": 20,
        "APP_TERMINAL_TIMEOUT": 30,
    },
}


class FailoverSettings(Concern):
    chunk_time_size_s: int = Field(
        10, alias="CHUNK_TIME_SIZE", ge=1, le=600, description="the recorders' chunk length, seconds"
    )
    heartbeat_interval_s: int = Field(
        10, alias="HEARTBEAT_INTERVAL", ge=1, le=600, description="the recorders' heartbeat interval, seconds"
    )
    heartbeat_timeout_s: int = Field(
        30,
        alias="APP_FAILOVER_HEARTBEAT_TIMEOUT",
        ge=2,
        description="silent this long, a recorder is taken over (at least two heartbeat intervals)",
    )
    stuck_chunk_timeout_s: int = Field(
        60,
        alias="APP_FAILOVER_STUCK_CHUNK_TIMEOUT",
        ge=2,
        description="heard, but no new chunk this long: ffmpeg hangs, it is taken over",
    )
    s3_quiet_after: OptionalInt = Field(
        None,
        alias="APP_FAILOVER_S3_QUIET_AFTER",
        ge=1,
        le=3600,
        description="the second witness (hacore.failover.guard): a recorder whose chunk of its epoch "
        "reached S3 this recently is alive, whatever its heartbeats say; unset: two chunks and 2 s",
    )
    check_interval_s: Seconds = Field(
        10,
        alias="APP_FAILOVER_CHECK_INTERVAL",
        description="the detector's sweep, seconds (1000 or more: milliseconds, as the original's 60000)",
    )
    start_grace_s: int = Field(
        60,
        alias="APP_FAILOVER_START_GRACE",
        ge=1,
        description="a new recording's time to store its first chunk",
    )
    backup_start_timeout_s: int = Field(
        60, alias="APP_FAILOVER_BACKUP_START_TIMEOUT", ge=1, description="a backup's time to heartbeat"
    )
    failover_enabled: Flag = Field(
        True,
        alias="APP_FAILOVER_ENABLED",
        description="false: no takeovers; the sweep still keeps the customer's deadlines",
    )
    finalize_timeout_s: int = Field(
        900,
        alias="APP_FINALIZE_TIMEOUT",
        ge=10,
        le=86400,
        description="how long OpenVidu's `failed`, held while a backup or finalizer makes the final file, "
        "waits for that report before it is released to the customer after all",
    )
    terminal_timeout_s: int = Field(
        300,
        alias="APP_TERMINAL_TIMEOUT",
        ge=10,
        le=86400,
        description="how long an ended recording waits for OpenVidu's `ready` or `failed` before we "
        "tell the customer ourselves (hacore.lifecycle)",
    )
    max_failover_attempts: int = Field(
        3,
        alias="APP_FAILOVER_MAX_ATTEMPTS",
        ge=1,
        le=20,
        description="takeovers of one session before FAILED",
    )
    max_recorder_age: OptionalInt = Field(
        None,
        alias="APP_MAX_RECORDER_AGE",
        ge=10,
        description="a recorder older than this, seconds, is handed over make-before-break (a Chrome "
        "that has recorded for hours grows old); unset: never",
    )
    redundant_recording: Flag = Field(
        False,
        alias="APP_REDUNDANT_RECORDING",
        description="every recording gets a shadow recorder from the start (a register's `redundant` "
        "overrides it): the recorder's death loses nothing, at the price of a second recorder "
        "(`make cost`)",
    )
    drain_concurrency: int = Field(
        2,
        alias="APP_DRAIN_CONCURRENCY",
        ge=1,
        le=50,
        description="handovers under way at once per node being drained",
    )
    detector_budget_s: float = Field(
        55,
        alias="APP_DETECTOR_BUDGET_SECONDS",
        gt=0,
        le=840,
        description="the detector's time per invocation (below its Lambda timeout)",
    )

    @property
    def s3_quiet_after_s(self) -> float:
        """No chunk of its epoch in S3 for this long: S3, too, says the recorder stopped. Below the
        heartbeat timeout by default, so a dead recorder is taken over as fast as without it."""
        if self.s3_quiet_after is not None:
            return float(self.s3_quiet_after)
        return 2.0 * self.chunk_time_size_s + 2

    @property
    def check_interval_ms(self) -> int:
        return int(self.check_interval_s * 1000)

    @model_validator(mode="after")
    def _timings_agree(self) -> FailoverSettings:
        # The original let these drift apart (30 s heartbeats, timeouts set elsewhere):
        # a timeout under two heartbeat intervals fails over healthy recorders.
        if self.heartbeat_timeout_s < 2 * self.heartbeat_interval_s:
            raise ValueError(
                f"APP_FAILOVER_HEARTBEAT_TIMEOUT ({self.heartbeat_timeout_s}s) must be at least twice "
                f"HEARTBEAT_INTERVAL ({self.heartbeat_interval_s}s), or healthy recorders get failed over"
            )
        if self.stuck_chunk_timeout_s < 2 * self.chunk_time_size_s:
            raise ValueError(
                f"APP_FAILOVER_STUCK_CHUNK_TIMEOUT ({self.stuck_chunk_timeout_s}s) must be at least twice "
                f"CHUNK_TIME_SIZE ({self.chunk_time_size_s}s): a chunk only advances once per chunk"
            )
        if self.s3_quiet_after_s <= self.chunk_time_size_s:
            raise ValueError(
                f"APP_FAILOVER_S3_QUIET_AFTER ({self.s3_quiet_after_s:g}s) must be longer than "
                f"CHUNK_TIME_SIZE ({self.chunk_time_size_s}s): a live recorder stores one chunk per chunk"
            )
        return self
