"""Where OpenVidu's webhooks go, how they are retried (`retry_schedule`), how a failing endpoint
is told apart, and how inbound calls are authenticated (hacore.webhooks)."""

from __future__ import annotations

from pydantic import Field, PrivateAttr, model_validator

from hacore.settings.retry_schedule import (
    DEFAULT_SCHEDULE,
    RetrySchedule,
    check_waits,
    legacy_waits,
    parse_waits,
)
from hacore.settings.types import CommaList, Concern, Flag, OptionalInt, OptionalSecret, OptionalText


class WebhookSettings(Concern):
    webhook_queue_url: OptionalText = Field(
        None, alias="WEBHOOK_QUEUE_URL", description="the relay's SQS queue"
    )
    webhook_dlq_url: OptionalText = Field(None, alias="WEBHOOK_DLQ_URL", description="its dead-letter queue")
    webhook_stats_table: OptionalText = Field(
        None, alias="WEBHOOK_STATS_TABLE", description="the relay's counters (the status route)"
    )
    webhook_state_table: OptionalText = Field(
        None, alias="WEBHOOK_STATE_TABLE", description="endpoint health and the dead letters' order"
    )
    webhook_endpoint: OptionalText = Field(
        None, alias="OPENVIDU_WEBHOOK_ENDPOINT", description="the customer's endpoint (OpenVidu's name)"
    )
    webhook_method: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_METHOD", description="its HTTP method")
    webhook_headers: OptionalText = Field(
        None, alias="OPENVIDU_WEBHOOK_HEADERS", description="headers sent with each webhook (JSON list)"
    )
    webhook_events: CommaList = Field(
        default_factory=list, alias="OPENVIDU_WEBHOOK_EVENTS", description="the events relayed (none: all)"
    )
    webhook_extra_endpoints: OptionalText = Field(
        None, alias="OPENVIDU_WEBHOOK_EXTRA_ENDPOINTS", description="more endpoints, each with its own queue"
    )
    webhook_timeout_ms: int = Field(
        5000, alias="OPENVIDU_WEBHOOK_TIMEOUT", ge=100, le=25_000, description="one delivery's timeout, ms"
    )
    webhook_retry_schedule: OptionalText = Field(
        None,
        alias="OPENVIDU_WEBHOOK_RETRY_SCHEDULE",
        description=f"the waits between attempts, like 5s,5m,2h (default {DEFAULT_SCHEDULE}: about a day)",
    )
    webhook_retry_attempts: OptionalInt = Field(
        None,
        alias="OPENVIDU_WEBHOOK_RETRY_ATTEMPTS",
        ge=1,
        le=100,
        description="the original's attempts: with the delay, the budget it always gave",
    )
    webhook_retry_delay_ms: OptionalInt = Field(
        None,
        alias="OPENVIDU_WEBHOOK_RETRY_DELAY",
        ge=0,
        description="the original's first delay, ms (doubling)",
    )
    webhook_max_backoff_s: int = Field(
        900, alias="OPENVIDU_WEBHOOK_MAX_BACKOFF", ge=1, le=43_200, description="the original's cap, seconds"
    )
    webhook_failing_after_s: float = Field(
        30,
        alias="OPENVIDU_WEBHOOK_FAILING_AFTER",
        ge=0,
        le=43_200,
        description="an endpoint with nothing but failures this long is failing: one probe at a time",
    )
    webhook_probe_interval_s: float = Field(
        60,
        alias="OPENVIDU_WEBHOOK_PROBE_INTERVAL",
        gt=0,
        le=43_200,
        description="probes at most this far apart",
    )
    webhook_unhealthy_after_s: float = Field(
        900,
        alias="OPENVIDU_WEBHOOK_UNHEALTHY_AFTER",
        gt=0,
        description="failing this long: unhealthy (alarm)",
    )
    webhook_auto_redrive: Flag = Field(
        False, alias="OPENVIDU_WEBHOOK_AUTO_REDRIVE", description="redrive the dead letters when it recovers"
    )
    webhook_time_scale: float = Field(
        1.0,
        alias="OPENVIDU_WEBHOOK_TIME_SCALE",
        ge=1,
        le=100_000,
        description="divides every webhook wait (3600: a second stands for an hour): a day in a test",
    )
    webhook_signing_secret: OptionalSecret = Field(
        None, alias="OPENVIDU_WEBHOOK_SIGNING_SECRET", description="signs each webhook (a signature header)"
    )
    webhook_inbound_token: OptionalSecret = Field(
        None, alias="OPENVIDU_WEBHOOK_INBOUND_TOKEN", description="the token OpenVidu's webhook must carry"
    )
    webhook_inbound_token_secret: OptionalText = Field(
        None,
        alias="OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET",
        description="the token in Secrets Manager instead (the stack's, generated unless given)",
    )
    webhook_max_bytes: int = Field(
        200 * 1024,
        alias="OPENVIDU_WEBHOOK_MAX_BYTES",
        ge=1024,
        le=240 * 1024,
        description="the largest webhook relayed (SQS takes 256 KiB)",
    )
    _schedule: RetrySchedule = PrivateAttr()

    @property
    def webhook_schedule(self) -> RetrySchedule:
        """The schedule if given, else the original's attempts/delay if either is set, else a day
        (parsed once, when the settings are read)."""
        return self._schedule

    @model_validator(mode="after")
    def _schedule_fits(self) -> WebhookSettings:
        legacy = self.webhook_retry_attempts is not None or self.webhook_retry_delay_ms is not None
        names = (
            "OPENVIDU_WEBHOOK_RETRY_SCHEDULE"
            if self.webhook_retry_schedule or not legacy
            else "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS with OPENVIDU_WEBHOOK_RETRY_DELAY"
        )
        try:  # each wait is a visibility timeout, and the whole must fit SQS's retention
            if self.webhook_retry_schedule or not legacy:
                waits = parse_waits(self.webhook_retry_schedule or DEFAULT_SCHEDULE)
            else:
                waits = legacy_waits(
                    self.webhook_retry_attempts or 3,
                    1000 if self.webhook_retry_delay_ms is None else self.webhook_retry_delay_ms,
                    self.webhook_max_backoff_s,
                )
            check_waits(waits)
        except ValueError as error:
            raise ValueError(f"{names}: {error}") from None
        self._schedule = RetrySchedule(tuple(waits), self.webhook_time_scale)
        return self
