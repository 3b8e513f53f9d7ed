"""Settings: the original's names and units, the timing profiles, and errors that name the variable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hacore.config_check import check
from hacore.settings import Settings, describe_errors


def test_defaults_suit_a_ten_second_chunk() -> None:
    s = Settings.from_env({})
    assert (s.chunk_time_size_s, s.heartbeat_interval_s, s.heartbeat_timeout_s) == (10, 10, 30)
    assert (s.stuck_chunk_timeout_s, s.check_interval_s) == (60, 10)
    assert s.profile == "dev"
    assert s.swagger_enabled


def test_fast_profile_and_explicit_values_win() -> None:
    fast = Settings.from_env({"HA_TIMING": "fast"})
    assert (fast.chunk_time_size_s, fast.heartbeat_interval_s, fast.heartbeat_timeout_s) == (2, 2, 6)
    assert fast.check_interval_s == 2
    mixed = Settings.from_env({"HA_TIMING": "fast", "APP_FAILOVER_HEARTBEAT_TIMEOUT": "9"})
    assert mixed.heartbeat_timeout_s == 9


@pytest.mark.parametrize(
    ("text", "seconds"), [("60000", 60), ("10", 10), ("2.5", 2.5), ("1500ms", 1.5), ("3s", 3)]
)
def test_check_interval_takes_the_originals_milliseconds_too(text: str, seconds: float) -> None:
    settings = Settings.from_env({"APP_FAILOVER_CHECK_INTERVAL": text})
    assert settings.check_interval_s == seconds
    assert settings.check_interval_ms == int(seconds * 1000)


def test_the_originals_template_settings_still_load() -> None:
    original = {
        "HEARTBEAT_INTERVAL": "30",
        "APP_FAILOVER_HEARTBEAT_TIMEOUT": "300",
        "APP_FAILOVER_STUCK_CHUNK_TIMEOUT": "180",
        "APP_FAILOVER_CHECK_INTERVAL": "60000",
        "CHUNK_TIME_SIZE": "20",
        "APP_FAILOVER_ENABLED": "true",
        "HA_SESSION_MAX_INACTIVE_TIME": "600",
    }
    s = Settings.from_env(original)
    assert (s.heartbeat_timeout_s, s.check_interval_s, s.failover_enabled) == (300, 60, True)


def test_a_timeout_shorter_than_two_heartbeats_is_refused_with_both_names() -> None:
    with pytest.raises(ValidationError) as error:
        Settings.from_env({"HEARTBEAT_INTERVAL": "30", "APP_FAILOVER_HEARTBEAT_TIMEOUT": "45"})
    (line,) = describe_errors(error.value)
    assert "APP_FAILOVER_HEARTBEAT_TIMEOUT (45s)" in line
    assert "HEARTBEAT_INTERVAL (30s)" in line


def test_wrong_values_name_their_variable() -> None:
    with pytest.raises(ValidationError) as error:
        Settings.from_env({"CHUNK_TIME_SIZE": "ten", "APP_PROFILE": "staging"})
    lines = describe_errors(error.value)
    assert any(line.startswith("CHUNK_TIME_SIZE:") for line in lines)
    assert any(line.startswith("APP_PROFILE:") for line in lines)


def test_validate_refuses_missing_and_default_credentials_in_prod() -> None:
    _, problems, _ = check({"APP_PROFILE": "prod"})
    assert any("no API credentials" in p for p in problems)
    _, problems, _ = check(
        {
            "APP_PROFILE": "prod",
            "HA_CONTROLLER_USERNAME": "recorder",
            "HA_CONTROLLER_PASSWORD": "rec0rd3r_2024!",
        }
    )
    assert any("published default" in p for p in problems)
    settings, problems, notes = check(
        {"HA_CONTROLLER_CREDENTIALS_SECRET": "arn:secret", "APP_PROFILE": "prod"}
    )
    assert settings is not None
    assert problems == []
    assert any("Swagger" in n for n in notes)


def test_password_is_never_printed() -> None:
    s = Settings.from_env({"HA_CONTROLLER_USERNAME": "u", "HA_CONTROLLER_PASSWORD": "hunter2"})
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s.model_dump())
