"""One settings model, read once from the environment.

Field aliases are the environment variable names, the original product's names
where it had one, so an existing `.env` keeps working. Timing defaults suit a
10 s chunk; `HA_TIMING=fast` selects the 2 s profile used by the drill in CI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from hacore.webhooks.schedule import (
    DEFAULT_SCHEDULE,
    RetrySchedule,
    check_waits,
    legacy_waits,
    parse_waits,
)

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


def _seconds_or_millis(value: Any) -> Any:
    """The original configured the check interval in milliseconds (60000); accept both.

    A bare number of 1000 or more is read as milliseconds, a smaller one as seconds;
    an explicit `ms` or `s` suffix settles it.
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text.endswith("ms"):
            return float(text[:-2]) / 1000
        if text.endswith("s"):
            return float(text[:-1])
        value = text
    number = float(value)
    return number / 1000 if number >= 1000 else number


def _blank_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


def _bool_text(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return value


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Seconds = Annotated[float, BeforeValidator(_seconds_or_millis), Field(gt=0)]
CommaList = Annotated[list[str], BeforeValidator(_comma_list)]
OptionalText = Annotated[str | None, BeforeValidator(_blank_is_none)]
OptionalInt = Annotated[int | None, BeforeValidator(_blank_is_none)]
OptionalSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]  # blank: not set
Flag = Annotated[bool, BeforeValidator(_bool_text)]


class Settings(BaseModel):
    """Everything the controller reads from its environment."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    profile: Literal["dev", "test", "prod"] = Field("dev", alias="APP_PROFILE")
    timing: Literal["default", "fast"] = Field("default", alias="HA_TIMING")
    region: str = Field("us-east-1", alias="AWS_REGION")

    sessions_table: str = Field("ha-sessions", alias="SESSIONS_TABLE", min_length=3)

    username: OptionalText = Field(None, alias="HA_CONTROLLER_USERNAME")
    password: OptionalSecret = Field(None, alias="HA_CONTROLLER_PASSWORD")
    credentials_secret: OptionalText = Field(None, alias="HA_CONTROLLER_CREDENTIALS_SECRET")

    chunk_time_size_s: int = Field(10, alias="CHUNK_TIME_SIZE", ge=1, le=600)
    heartbeat_interval_s: int = Field(10, alias="HEARTBEAT_INTERVAL", ge=1, le=600)
    heartbeat_timeout_s: int = Field(30, alias="APP_FAILOVER_HEARTBEAT_TIMEOUT", ge=2)
    stuck_chunk_timeout_s: int = Field(60, alias="APP_FAILOVER_STUCK_CHUNK_TIMEOUT", ge=2)
    # The second witness (hacore.failover.guard): a recorder whose current-epoch chunk reached S3
    # this recently is alive, whatever its heartbeats say. Unset: two chunks and 2 s of upload.
    s3_quiet_after: OptionalInt = Field(None, alias="APP_FAILOVER_S3_QUIET_AFTER", ge=1, le=3600)
    check_interval_s: Seconds = Field(10, alias="APP_FAILOVER_CHECK_INTERVAL")
    start_grace_s: int = Field(60, alias="APP_FAILOVER_START_GRACE", ge=1)
    backup_start_timeout_s: int = Field(60, alias="APP_FAILOVER_BACKUP_START_TIMEOUT", ge=1)
    failover_enabled: Flag = Field(True, alias="APP_FAILOVER_ENABLED")
    # How long OpenVidu's `failed`, held back while a backup or finalizer makes the final file,
    # waits for that final report before it is released to the customer after all.
    finalize_timeout_s: int = Field(900, alias="APP_FINALIZE_TIMEOUT", ge=10, le=86400)
    # How long an ended recording (OpenVidu's `stopped`, or given up) waits for OpenVidu's `ready`
    # or `failed` before we tell the customer the truth ourselves (hacore.lifecycle). OpenVidu may
    # throw before it sends one (a container that ignores the `q`).
    terminal_timeout_s: int = Field(300, alias="APP_TERMINAL_TIMEOUT", ge=10, le=86400)
    max_failover_attempts: int = Field(3, alias="APP_FAILOVER_MAX_ATTEMPTS", ge=1, le=20)

    detector_budget_s: float = Field(55, alias="APP_DETECTOR_BUDGET_SECONDS", gt=0, le=840)

    launcher: Literal["ecs", "docker", "process"] = Field("process", alias="APP_FAILOVER_LAUNCHER")
    controller_url: OptionalText = Field(None, alias="HA_CONTROLLER_URL")
    ecs_cluster: OptionalText = Field(None, alias="APP_ECS_CLUSTER")
    ecs_task_definition: OptionalText = Field(None, alias="APP_ECS_TASK_DEFINITION")
    ecs_container: str = Field("recorder", alias="APP_ECS_CONTAINER_NAME")
    # Where a backup task's log stream is (awslogs: prefix/container/task id), shown with the backup
    ecs_log_group: OptionalText = Field(None, alias="APP_ECS_LOG_GROUP")
    ecs_log_stream_prefix: str = Field("backup", alias="APP_ECS_LOG_STREAM_PREFIX")
    ecs_subnets: CommaList = Field(default_factory=list, alias="APP_ECS_SUBNETS")
    ecs_security_groups: CommaList = Field(default_factory=list, alias="APP_ECS_SECURITY_GROUPS")
    ecs_assign_public_ip: Flag = Field(False, alias="APP_ECS_ASSIGN_PUBLIC_IP")
    docker_image: str = Field("openvidu/openvidu-recording", alias="APP_DOCKER_OPENVIDU_IMAGE")
    docker_image_tag: str = Field("2.31.0", alias="APP_DOCKER_IMAGE_TAG")
    docker_network: OptionalText = Field(None, alias="APP_DOCKER_NETWORK")
    docker_socket: str = Field("/var/run/docker.sock", alias="APP_DOCKER_SOCKET_PATH")
    # The media node's recordings folder, bind-mounted at /recordings in a Docker backup as OpenVidu
    # mounts it in its recorders: the backup reads the node's /recordings/.env (S3 endpoint, keys)
    docker_recordings_path: OptionalText = Field(None, alias="APP_DOCKER_RECORDINGS_PATH")
    process_command: OptionalText = Field(None, alias="APP_PROCESS_BACKUP_COMMAND")
    process_state_dir: str = Field(".local-data/backups", alias="APP_PROCESS_STATE_DIR")
    # Fargate's cold start, modelled on this machine: a backup process starts this much later.
    process_launch_delay_s: float = Field(0, alias="APP_PROCESS_LAUNCH_DELAY", ge=0, le=600)

    # Warm standby recorders (hacore.standby): 0 keeps every takeover a cold launch.
    standby_table: OptionalText = Field(None, alias="STANDBY_TABLE")
    standby_pool_size: int = Field(0, alias="APP_STANDBY_POOL_SIZE", ge=0, le=50)
    # How long a takeover waits for an assigned standby to accept before it launches cold.
    standby_accept_timeout_s: float = Field(2.0, alias="APP_STANDBY_ACCEPT_TIMEOUT", gt=0, le=20)
    # A standby not heard from for this long is taken for dead (it polls twice a second).
    standby_silent_after_s: float = Field(15.0, alias="APP_STANDBY_SILENT_AFTER", ge=2, le=600)

    # The takeover-storm guard (hacore.failover.guard): when this many sessions, this share of
    # those watched, on this many hosts, miss heartbeats at once, the controller doubts its ears.
    control_table: OptionalText = Field(None, alias="CONTROL_TABLE")
    storm_share: float = Field(0.3, alias="APP_STORM_SHARE", gt=0, le=1)
    storm_min_sessions: int = Field(3, alias="APP_STORM_MIN_SESSIONS", ge=2, le=10_000)
    storm_min_hosts: int = Field(2, alias="APP_STORM_MIN_HOSTS", ge=1, le=1000)
    storm_takeovers_per_sweep: int = Field(5, alias="APP_STORM_TAKEOVERS_PER_SWEEP", ge=1, le=1000)

    webhook_queue_url: OptionalText = Field(None, alias="WEBHOOK_QUEUE_URL")
    webhook_dlq_url: OptionalText = Field(None, alias="WEBHOOK_DLQ_URL")
    webhook_stats_table: OptionalText = Field(None, alias="WEBHOOK_STATS_TABLE")
    webhook_endpoint: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_ENDPOINT")
    webhook_method: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_METHOD")
    webhook_headers: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_HEADERS")
    webhook_events: CommaList = Field(default_factory=list, alias="OPENVIDU_WEBHOOK_EVENTS")
    webhook_extra_endpoints: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_EXTRA_ENDPOINTS")
    webhook_timeout_ms: int = Field(5000, alias="OPENVIDU_WEBHOOK_TIMEOUT", ge=100, le=25_000)
    # hacore.webhooks.schedule: the waits between attempts (about a day by default); the original's
    # attempts and delay still give the budget they always gave to whoever sets them.
    webhook_retry_schedule: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_RETRY_SCHEDULE")
    webhook_retry_attempts: OptionalInt = Field(None, alias="OPENVIDU_WEBHOOK_RETRY_ATTEMPTS", ge=1, le=100)
    webhook_retry_delay_ms: OptionalInt = Field(None, alias="OPENVIDU_WEBHOOK_RETRY_DELAY", ge=0)
    webhook_max_backoff_s: int = Field(900, alias="OPENVIDU_WEBHOOK_MAX_BACKOFF", ge=1, le=43_200)
    # hacore.webhooks.health: an endpoint with nothing but failures for FAILING_AFTER is failing:
    # one probe at a time, PROBE_INTERVAL apart at most; unhealthy (status, alarm) after UNHEALTHY_AFTER.
    webhook_failing_after_s: float = Field(30, alias="OPENVIDU_WEBHOOK_FAILING_AFTER", ge=0, le=43_200)
    webhook_probe_interval_s: float = Field(60, alias="OPENVIDU_WEBHOOK_PROBE_INTERVAL", gt=0, le=43_200)
    webhook_unhealthy_after_s: float = Field(900, alias="OPENVIDU_WEBHOOK_UNHEALTHY_AFTER", gt=0)
    webhook_auto_redrive: Flag = Field(False, alias="OPENVIDU_WEBHOOK_AUTO_REDRIVE")
    webhook_state_table: OptionalText = Field(None, alias="WEBHOOK_STATE_TABLE")
    # Divides every webhook wait (3600: a second stands for an hour): a day's outage in a test.
    webhook_time_scale: float = Field(1.0, alias="OPENVIDU_WEBHOOK_TIME_SCALE", ge=1, le=100_000)
    webhook_signing_secret: OptionalSecret = Field(None, alias="OPENVIDU_WEBHOOK_SIGNING_SECRET")
    webhook_inbound_token: OptionalSecret = Field(None, alias="OPENVIDU_WEBHOOK_INBOUND_TOKEN")
    # In AWS the token is in Secrets Manager (the stack's, generated unless the operator gave one)
    webhook_inbound_token_secret: OptionalText = Field(None, alias="OPENVIDU_WEBHOOK_INBOUND_TOKEN_SECRET")
    webhook_max_bytes: int = Field(200 * 1024, alias="OPENVIDU_WEBHOOK_MAX_BYTES", ge=1024, le=240 * 1024)

    session_max_inactive_s: int = Field(600, alias="HA_SESSION_MAX_INACTIVE_TIME", ge=60)
    session_retention_s: int = Field(7 * 86400, alias="HA_SESSION_RETENTION", ge=60)
    max_body_bytes: int = Field(256 * 1024, alias="HA_MAX_BODY_BYTES", ge=1024, le=6 * 1024 * 1024)

    s3_bucket: OptionalText = Field(None, alias="HA_AWS_S3_BUCKET")
    # The recorders' setting, read here too so the health reply can say what they do with chunks
    delete_chunks_after_final: Flag = Field(False, alias="DELETE_CHUNKS_AFTER_FINAL")
    s3_endpoint: OptionalText = Field(None, alias="HA_AWS_S3_SERVICE_ENDPOINT")

    @property
    def swagger_enabled(self) -> bool:
        return self.profile != "prod"

    @property
    def backup_start_deadline_s(self) -> float:
        """A backup's time to heartbeat: the timeout, plus the modelled cold start (the process
        launcher's delay stands for Fargate's start, which an operator's timeout must cover too)."""
        return self.backup_start_timeout_s + self.process_launch_delay_s

    @property
    def s3_quiet_after_s(self) -> float:
        """No chunk of its epoch in S3 for this long: S3, too, says the recorder stopped. Below the
        heartbeat timeout by default, so a dead recorder is taken over as fast as without it."""
        if self.s3_quiet_after is not None:
            return float(self.s3_quiet_after)
        return 2.0 * self.chunk_time_size_s + 2

    @property
    def quiet_after_s(self) -> float:
        """Silent this long, a session counts towards a storm: it missed a heartbeat. When the API
        goes down, the first session to reach the timeout finds every other one quiet already
        (all heartbeats stopped within one interval; both profiles' timeout is three intervals);
        when the controller is overloaded, heartbeats land late everywhere at once."""
        return 1.5 * self.heartbeat_interval_s

    @property
    def check_interval_ms(self) -> int:
        return int(self.check_interval_s * 1000)

    @property
    def webhook_schedule(self) -> RetrySchedule:
        """The schedule if given, else the original's attempts/delay if either is set, else a day."""
        if self.webhook_retry_schedule:
            waits = parse_waits(self.webhook_retry_schedule)
        elif self.webhook_retry_attempts is not None or self.webhook_retry_delay_ms is not None:
            waits = legacy_waits(
                self.webhook_retry_attempts or 3,
                1000 if self.webhook_retry_delay_ms is None else self.webhook_retry_delay_ms,
                self.webhook_max_backoff_s,
            )
        else:
            waits = parse_waits(DEFAULT_SCHEDULE)
        return RetrySchedule(tuple(waits), self.webhook_time_scale)

    @model_validator(mode="after")
    def _timings_agree(self) -> Settings:
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
        if self.launcher == "ecs" and not (
            self.ecs_cluster and self.ecs_task_definition and self.ecs_subnets
        ):
            raise ValueError(
                "APP_FAILOVER_LAUNCHER=ecs needs APP_ECS_CLUSTER, APP_ECS_TASK_DEFINITION and APP_ECS_SUBNETS"
            )
        try:  # each wait is a visibility timeout, and the whole must fit SQS's retention
            check_waits(self.webhook_schedule.waits)
        except ValueError as error:
            names = (
                "OPENVIDU_WEBHOOK_RETRY_SCHEDULE"
                if self.webhook_retry_schedule
                else "OPENVIDU_WEBHOOK_RETRY_ATTEMPTS with OPENVIDU_WEBHOOK_RETRY_DELAY"
            )
            raise ValueError(f"{names}: {error}") from None
        if self.standby_pool_size and not self.standby_table:
            raise ValueError("APP_STANDBY_POOL_SIZE needs STANDBY_TABLE (the template sets it)")
        if self.username is not None and not (self.password and self.password.get_secret_value()):
            raise ValueError("HA_CONTROLLER_USERNAME is set but HA_CONTROLLER_PASSWORD is empty")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads the environment with the timing profile's defaults underneath it."""
        env = dict(os.environ if environ is None else environ)
        profile = env.get("HA_TIMING", "default").strip().lower() or "default"
        merged: dict[str, Any] = {k: v for k, v in TIMING_PROFILES.get(profile, {}).items()}
        merged.update(env)
        return cls.model_validate(merged)


def describe_errors(error: ValidationError) -> list[str]:
    """One plain sentence per problem, naming the variable: what `validate` prints."""
    lines = []
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or "configuration"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{name}: {message}" if item["loc"] else message)
    return lines


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (a Lambda container keeps them warm)."""
    return Settings.from_env()
