"""What every function reads: who it is, where the sessions are kept, who may call the API, and
how long a session's record lives."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hacore.settings.types import Concern, Flag, OptionalFlag, OptionalSecret, OptionalText


class CoreSettings(Concern):
    profile: Literal["dev", "test", "prod"] = Field(
        "dev",
        alias="APP_PROFILE",
        description="dev, test or prod; prod turns the Swagger UI and the operator console off",
    )
    console: OptionalFlag = Field(
        None,
        alias="APP_CONSOLE",
        description="the operator console at /console (behind the API's credentials); unset: on but in prod",
    )
    timing: Literal["default", "fast"] = Field(
        "default",
        alias="HA_TIMING",
        description="the timing profile under every timeout: default suits a 10 s chunk, fast a 2 s one",
    )
    region: str = Field("us-east-1", alias="AWS_REGION", description="the AWS region of every client")
    sessions_table: str = Field(
        "ha-sessions", alias="SESSIONS_TABLE", min_length=3, description="the sessions' DynamoDB table"
    )
    username: OptionalText = Field(
        None, alias="HA_CONTROLLER_USERNAME", description="the API's Basic auth user (the recorders')"
    )
    password: OptionalSecret = Field(None, alias="HA_CONTROLLER_PASSWORD", description="its password")
    credentials_secret: OptionalText = Field(
        None,
        alias="HA_CONTROLLER_CREDENTIALS_SECRET",
        description="a Secrets Manager secret holding the user and password instead (in AWS)",
    )
    session_max_inactive_s: int = Field(
        600,
        alias="HA_SESSION_MAX_INACTIVE_TIME",
        ge=60,
        description="a live session's record expires this long after its last write (TTL)",
    )
    session_retention_s: int = Field(
        7 * 86400,
        alias="HA_SESSION_RETENTION",
        ge=60,
        description="an ended session's record is kept this long",
    )
    max_body_bytes: int = Field(
        256 * 1024,
        alias="HA_MAX_BODY_BYTES",
        ge=1024,
        le=6 * 1024 * 1024,
        description="the largest request body the API reads (413 above)",
    )
    s3_bucket: OptionalText = Field(
        None, alias="HA_AWS_S3_BUCKET", description="the recorders' bucket: chunks, final files, manifests"
    )
    s3_endpoint: OptionalText = Field(
        None, alias="HA_AWS_S3_SERVICE_ENDPOINT", description="an S3-compatible endpoint instead of AWS's"
    )
    delete_chunks_after_final: Flag = Field(
        False,
        alias="DELETE_CHUNKS_AFTER_FINAL",
        description="the recorders' setting, read here so the health reply can say what they do with chunks",
    )

    @property
    def swagger_enabled(self) -> bool:
        return self.profile != "prod"

    @property
    def console_enabled(self) -> bool:
        return self.console if self.console is not None else self.profile != "prod"

    @model_validator(mode="after")
    def _password_with_user(self) -> CoreSettings:
        if self.username is not None and not (self.password and self.password.get_secret_value()):
            raise ValueError("HA_CONTROLLER_USERNAME is set but HA_CONTROLLER_PASSWORD is empty")
        return self
