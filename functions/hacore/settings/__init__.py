"""The controller's settings, read once from the environment, composed per concern: core,
failover, launcher, standby, storm and webhooks (one module each, each validated where it is
defined). Field aliases are the environment variable names, the original product's names where
it had one, so an existing `.env` keeps working. `docs/configuration.md` lists every one of
them from the fields' descriptions (`local/config_reference.py`; a test keeps the two the same).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from hacore.settings.core import CoreSettings
from hacore.settings.failover import TIMING_PROFILES, FailoverSettings
from hacore.settings.launcher import LauncherSettings
from hacore.settings.standby import StandbySettings
from hacore.settings.storm import StormSettings
from hacore.settings.webhooks import WebhookSettings

CONCERNS: tuple[type, ...] = (
    CoreSettings,
    FailoverSettings,
    LauncherSettings,
    StandbySettings,
    StormSettings,
    WebhookSettings,
)


class Settings(
    CoreSettings, FailoverSettings, LauncherSettings, StandbySettings, StormSettings, WebhookSettings
):
    """Everything the controller reads from its environment; below, what spans two concerns."""

    @property
    def backup_start_deadline_s(self) -> float:
        """A backup's time to heartbeat: the timeout, plus the modelled cold start (the process
        launcher's delay stands for Fargate's start, which an operator's timeout must cover too)."""
        return self.backup_start_timeout_s + self.process_launch_delay_s

    @property
    def quiet_after_s(self) -> float:
        """Silent this long, a session counts towards a storm: it missed a heartbeat. When the API
        goes down, the first session to reach the timeout finds every other one quiet already
        (all heartbeats stopped within one interval; both profiles' timeout is three intervals);
        when the controller is overloaded, heartbeats land late everywhere at once."""
        return 1.5 * self.heartbeat_interval_s

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Reads the environment with the timing profile's defaults underneath it."""
        env = dict(os.environ if environ is None else environ)
        profile = env.get("HA_TIMING", "default").strip().lower() or "default"
        merged: dict[str, Any] = dict(TIMING_PROFILES.get(profile, {}))
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


__all__ = ["CONCERNS", "TIMING_PROFILES", "Settings", "describe_errors", "get_settings"]
