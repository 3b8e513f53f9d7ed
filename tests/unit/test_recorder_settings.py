"""The recorder's settings from `$RECORDINGS_PATH/.env`, with the original template's names."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from recorder.config import AgentConfig
from recorder.settings_file import merged_environment, parse_env_file

# The original's .env, as its README distributes it (its names, its comments, its quoting).
ORIGINAL_ENV = """\
# Recording storage mode
HA_RECORDING_STORAGE=s3          # 'local' or 's3'
CHUNK_FOLDER=/local-chunks           # Local chunk storage path
CHUNK_TIME_SIZE=20                   # Chunk duration in seconds

# S3/MinIO Configuration
HA_AWS_S3_SERVICE_ENDPOINT=http://172.31.0.96:9000
HA_AWS_S3_BUCKET=ov-recordings
HA_AWS_ACCESS_KEY=naeva_minio
HA_AWS_SECRET_KEY="N43v4t3c_M1n10"
HA_AWS_REGION=eu-west-1

# HA Controller Connection
HA_CONTROLLER_HOST=ov-recorder
HA_CONTROLLER_PORT=8080
HA_CONTROLLER_USERNAME=recorder
export HA_CONTROLLER_PASSWORD='rec0rd3r_2024!'
HEARTBEAT_INTERVAL=30
"""
# Exactly what OpenVidu gives its recording container, and the bind mount.
NINE = {
    "DEBUG_MODE": "false",
    "URL": "https://ov/#/layout-best-fit/ses/SECRET/443/false",
    "ONLY_VIDEO": "false",
    "RESOLUTION": "1280x720",
    "FRAMERATE": "25",
    "VIDEO_ID": "ses~1",
    "VIDEO_NAME": "meeting",
    "VIDEO_FORMAT": "mp4",
    "RECORDING_JSON": '{"id":"ses~1","name":"meeting"}',
}


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    (tmp_path / ".env").write_text(ORIGINAL_ENV)
    return tmp_path


def test_the_original_env_file_parses_with_comments_quotes_and_export() -> None:
    values = parse_env_file(ORIGINAL_ENV)
    assert values["HA_RECORDING_STORAGE"] == "s3"
    assert values["CHUNK_TIME_SIZE"] == "20"
    assert values["HA_AWS_SECRET_KEY"] == "N43v4t3c_M1n10"
    assert values["HA_CONTROLLER_PASSWORD"] == "rec0rd3r_2024!"
    assert "Recording" not in " ".join(values)


def test_a_recorder_started_with_only_openvidus_variables_is_configured_from_the_file(
    recordings: Path,
) -> None:
    environ = NINE | {"RECORDINGS_PATH": str(recordings)}
    config = AgentConfig.from_env(environ)
    assert config.ha
    assert config.controller_url == "http://ov-recorder:8080"
    assert (config.username, config.password) == ("recorder", "rec0rd3r_2024!")
    assert (config.bucket, config.s3_endpoint) == ("ov-recordings", "http://172.31.0.96:9000")
    assert (config.s3_access_key, config.s3_secret_key, config.s3_region) == (
        "naeva_minio",
        "N43v4t3c_M1n10",
        "eu-west-1",
    )
    assert (config.chunk_time_size, config.heartbeat_interval) == (20, 30)
    assert config.chunk_folder == Path("/local-chunks")
    assert config.output_file == recordings / "ses~1" / "meeting.mp4"
    assert config.primary


def test_the_environment_wins_over_the_file(recordings: Path) -> None:
    environ = NINE | {"RECORDINGS_PATH": str(recordings), "HA_AWS_S3_BUCKET": "mine", "CHUNK_TIME_SIZE": "4"}
    config = AgentConfig.from_env(environ)
    assert (config.bucket, config.chunk_time_size) == ("mine", 4)


def test_without_settings_anywhere_it_is_the_stock_recorder(tmp_path: Path) -> None:
    assert not AgentConfig.from_env(NINE | {"RECORDINGS_PATH": str(tmp_path)}).ha
    assert merged_environment(NINE | {"RECORDINGS_PATH": str(tmp_path)}) == NINE | {
        "RECORDINGS_PATH": str(tmp_path)
    }
    (tmp_path / ".env").write_text("HA_CONTROLLER_HOST=ctl\n")  # a bucket is needed too
    assert not AgentConfig.from_env(NINE | {"RECORDINGS_PATH": str(tmp_path)}).ha


def test_recordings_path_defaults_to_openvidus_mount() -> None:
    from recorder.settings_file import settings_file

    assert settings_file({}) == Path("/recordings/.env")


def test_a_bad_storage_mode_is_named(recordings: Path) -> None:
    with pytest.raises(ValidationError, match="HA_RECORDING_STORAGE"):
        AgentConfig.from_env(NINE | {"RECORDINGS_PATH": str(recordings), "HA_RECORDING_STORAGE": "ftp"})


def test_a_line_that_is_not_key_value_is_skipped_not_fatal() -> None:
    assert parse_env_file("garbage line\nA=1\n=2\n") == {"A": "1"}
