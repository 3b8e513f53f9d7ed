"""Warm standby recorders (hacore.standby): how many, and how long one is waited for."""

from __future__ import annotations

from pydantic import Field, model_validator

from hacore.settings.types import Concern, OptionalText


class StandbySettings(Concern):
    standby_table: OptionalText = Field(
        None, alias="STANDBY_TABLE", description="the standbys' DynamoDB table"
    )
    standby_pool_size: int = Field(
        0,
        alias="APP_STANDBY_POOL_SIZE",
        ge=0,
        le=50,
        description="warm standbys kept; 0: every takeover is cold",
    )
    standby_accept_timeout_s: float = Field(
        2.0,
        alias="APP_STANDBY_ACCEPT_TIMEOUT",
        gt=0,
        le=20,
        description="how long a takeover waits for an assigned standby to accept before it launches cold",
    )
    standby_silent_after_s: float = Field(
        15.0,
        alias="APP_STANDBY_SILENT_AFTER",
        ge=2,
        le=600,
        description="a standby not heard from this long is taken for dead (it polls twice a second)",
    )

    @model_validator(mode="after")
    def _pool_has_a_table(self) -> StandbySettings:
        if self.standby_pool_size and not self.standby_table:
            raise ValueError("APP_STANDBY_POOL_SIZE needs STANDBY_TABLE (the template sets it)")
        return self
