"""`validate`: checks a configuration and says exactly what is wrong, like the original validate-env.sh."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from hacore.settings import Settings, describe_errors

ORIGINAL_DEFAULT_PASSWORD = "rec0rd3r_2024!"  # noqa: S105 - named so that it can be refused


def check(environ: Mapping[str, str]) -> tuple[Settings | None, list[str], list[str]]:
    """(settings, problems, notes): problems make the configuration unusable; notes are advice."""
    try:
        settings = Settings.from_env(environ)
    except ValidationError as error:
        return None, describe_errors(error), []
    problems: list[str] = []
    notes: list[str] = []
    has_env_credentials = bool(settings.username and settings.password)
    if not settings.credentials_secret and not has_env_credentials:
        problems.append(
            "no API credentials: set HA_CONTROLLER_CREDENTIALS_SECRET (AWS) or "
            "HA_CONTROLLER_USERNAME and HA_CONTROLLER_PASSWORD; without them every /api call gets 401"
        )
    using_default = (
        settings.password is not None and settings.password.get_secret_value() == ORIGINAL_DEFAULT_PASSWORD
    )
    if settings.profile == "prod" and using_default and not settings.credentials_secret:
        problems.append("HA_CONTROLLER_PASSWORD is the original's published default; prod refuses it")
    elif using_default:
        notes.append("HA_CONTROLLER_PASSWORD is the original's published default: fine on a laptop only")
    if settings.profile == "prod":
        notes.append("APP_PROFILE=prod: the Swagger UI and /v3/api-docs are off")
    notes.append(
        f"timing: chunks of {settings.chunk_time_size_s}s, heartbeat every {settings.heartbeat_interval_s}s, "
        f"failover after {settings.heartbeat_timeout_s}s of silence or {settings.stuck_chunk_timeout_s}s "
        f"without a new chunk, checked every {settings.check_interval_s:g}s"
    )
    return settings, problems, notes


def report_lines(settings: Settings | None, problems: list[str], notes: list[str]) -> list[str]:
    """What `check` found, as `make validate` and `ovha validate` print it."""
    lines = [f"ERROR  {problem}" for problem in problems] + [f"note   {note}" for note in notes]
    if problems:
        lines.append(f"{len(problems)} problem(s): the configuration is not usable")
    else:
        lines.append(f"OK     configuration is valid (profile {settings.profile if settings else '?'})")
    return lines
