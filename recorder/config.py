"""The agent's configuration: the original recorder's variables (from the environment, or from
`$RECORDINGS_PATH/.env` as the original distributes them), plus EPOCH."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from recorder.settings_file import DEFAULT_RECORDINGS_PATH, merged_environment, with_controller_url


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


class AgentConfig(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    video_id: str = Field(
        alias="VIDEO_ID",
        min_length=1,
        description="OpenVidu's recording id: the session's key at the controller",
    )
    video_name: str | None = Field(
        None,
        alias="VIDEO_NAME",
        description="the recording's name: the final file is <name>.mp4 (default: the id)",
    )
    video_format: str = Field("mp4", alias="VIDEO_FORMAT", description="the final file's format")
    chunk_folder: Path = Field(
        Path("/local-chunks"),
        alias="CHUNK_FOLDER",
        description="where chunks are written before their upload (the original's default)",
    )
    start_chunk: int = Field(
        0,
        alias="START_CHUNK",
        ge=0,
        description="the first chunk number (a backup's: after the newest anyone stored)",
    )
    chunk_time_size: float = Field(10, alias="CHUNK_TIME_SIZE", gt=0, description="chunk length, seconds")
    recovery: bool = Field(
        False, alias="IS_RECOVERY_CONTAINER", description="the original's flag for a backup"
    )
    instance_id: str | None = Field(
        None,
        alias="HA_INSTANCE_ID",
        pattern=r"^i-[0-9a-f]{8,17}$",
        description="the media node's EC2 instance id; unset: read from IMDSv2, if there is one",
    )
    imds_url: str = Field(
        "http://169.254.169.254", alias="HA_IMDS_URL", description="where IMDSv2 answers; off: not looked up"
    )
    epoch: int = Field(
        1,
        alias="EPOCH",
        ge=1,
        description="the recorder's generation: a takeover's backup has the session's new one",
    )
    heartbeat_interval: float = Field(
        10, alias="HEARTBEAT_INTERVAL", gt=0, description="seconds between heartbeats"
    )
    controller_url: str = Field(
        "",
        alias="HA_CONTROLLER_URL",
        description="the controller (or the original's HA_CONTROLLER_HOST, _PORT); with a bucket: HA",
    )
    username: str = Field("", alias="HA_CONTROLLER_USERNAME", description="the controller's Basic auth user")
    password: str = Field("", alias="HA_CONTROLLER_PASSWORD", repr=False, description="its password")
    bucket: str = Field(
        "", alias="HA_AWS_S3_BUCKET", description="the bucket for chunks, final files and manifests"
    )
    s3_endpoint: str | None = Field(
        None, alias="HA_AWS_S3_SERVICE_ENDPOINT", description="an S3-compatible endpoint (MinIO, say)"
    )
    s3_access_key: str | None = Field(
        None,
        alias="HA_AWS_ACCESS_KEY",
        repr=False,
        description="S3 credentials of the original's .env; unset: the default chain (a task role)",
    )
    s3_secret_key: str | None = Field(
        None, alias="HA_AWS_SECRET_KEY", repr=False, description="the secret of that key"
    )
    s3_region: str | None = Field(None, alias="HA_AWS_REGION", description="the bucket's region")
    recording_storage: Literal["local", "s3"] = Field(
        "s3",
        alias="HA_RECORDING_STORAGE",
        description="s3: the final file goes to S3 too; local: only to OpenVidu's folder (chunks: always S3)",
    )
    recordings_path: Path = Field(
        Path(DEFAULT_RECORDINGS_PATH),
        alias="RECORDINGS_PATH",
        description="OpenVidu's recordings folder (its bind mount): the .env, the files OpenVidu waits for",
    )
    action: Literal["run", "finalize"] = Field(
        "run",
        alias="RECORDER_ACTION",
        description="run: record; finalize: join what S3 holds (a finalizer task)",
    )
    stop_budget_s: float = Field(
        25,
        alias="RECORDER_STOP_BUDGET",
        gt=0,
        le=29,
        description="from OpenVidu's q to this process's exit, seconds: OpenVidu kills the container at 30",
    )
    source: Literal["synthetic", "openvidu"] = Field(
        "openvidu",
        alias="RECORDER_SOURCE",
        description="openvidu: X display, PulseAudio, the browser on URL; synthetic: a test pattern, a tone",
    )
    resolution: str = Field(
        "1280x720", alias="RESOLUTION", pattern=r"^\d+x\d+$", description="the captured screen's size"
    )
    framerate: int = Field(25, alias="FRAMERATE", ge=1, le=60, description="frames per second")
    only_video: bool = Field(False, alias="ONLY_VIDEO", description="no audio")
    display: str = Field(
        ":99", alias="DISPLAY", description="the first X display tried; the next free one if taken"
    )
    browser: str = Field(
        "auto",
        alias="RECORDER_BROWSER",
        description="the recording browser: auto is Google Chrome (OpenVidu's image), else Debian's chromium",
    )
    frozen_seconds: float = Field(
        10,
        alias="CAPTURE_FROZEN_SECONDS",
        ge=2,
        le=600,
        description="a picture still (or black) this long gets the page reloaded (ffmpeg's freezedetect)",
    )
    stack_max_restarts: int = Field(
        10,
        alias="CAPTURE_STACK_MAX_RESTARTS",
        ge=1,
        description="restarts of X, PulseAudio or the browser before the recorder gives up",
    )
    stop_file: Path = Field(
        Path("stop"),
        alias="STOP_FILE",
        description="where OpenVidu writes its q (relative: in the working folder)",
    )
    recording_json: str | None = Field(
        None, alias="RECORDING_JSON", description="OpenVidu's recording entity, registered with the session"
    )
    url: str | None = Field(None, alias="URL", description="the layout page the browser records")
    hostname: str = Field(
        default_factory=socket.gethostname,
        alias="HOSTNAME",
        description="the media node's name, registered as the session's host",
    )
    delete_chunks_after_final: bool = Field(
        False,
        alias="DELETE_CHUNKS_AFTER_FINAL",
        description="delete a recording's chunks once its final file is stored",
    )
    max_failed_starts: int = Field(
        6,
        alias="CAPTURE_MAX_FAILED_STARTS",
        ge=1,
        description="ffmpeg runs in a row that close no chunk before the agent gives up (a broken source)",
    )

    @field_validator("recovery", "only_video", "delete_chunks_after_final", mode="before")
    @classmethod
    def _flags(cls, value: Any) -> bool:
        return _flag(value)

    @field_validator("recording_storage", mode="before")
    @classmethod
    def _storage(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _original_controller_address(cls, data: Any) -> Any:
        return with_controller_url(data)

    @property
    def name(self) -> str:
        return self.video_name or self.video_id

    @property
    def ha(self) -> bool:
        """HA (chunks to S3, heartbeats, takeovers) or OpenVidu's stock recorder: HA needs the
        controller's address (URL, or the original's HOST) and a bucket, from either source."""
        return bool(self.controller_url and self.bucket)

    @property
    def primary(self) -> bool:
        """The recorder OpenVidu started (not a backup, not a finalizer): it owes OpenVidu its files."""
        return not self.recovery and self.action == "run"

    @property
    def output_dir(self) -> Path:
        """`/recordings/<id>/`: where OpenVidu waits for `<name>.mp4` and reads `<id>.info`."""
        return self.recordings_path / self.video_id

    @property
    def output_file(self) -> Path:
        return self.output_dir / f"{self.name}.{self.video_format}"

    @property
    def work_dir(self) -> Path:
        """This recorder's own folder: a backup on the same machine never shares the primary's."""
        return self.chunk_folder / self.video_id / f"e{self.epoch}"

    def registered_environment(self) -> dict[str, str]:
        """What the original register script sent as `environment` (all strings)."""
        return {
            "videoId": self.video_id,
            "videoName": self.name,
            "videoFormat": self.video_format,
            "chunkFolder": str(self.chunk_folder),
            "chunkTimeSize": f"{self.chunk_time_size:g}",
            "resolution": self.resolution,
            "framerate": str(self.framerate),
            "onlyVideo": str(self.only_video).lower(),
            "recorderSource": self.source,
            "isRecoveryContainer": str(self.recovery).lower(),
            "hostname": self.hostname,
            **({"url": self.url} if self.url else {}),
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> AgentConfig:
        """The environment over `$RECORDINGS_PATH/.env` (OpenVidu passes nothing else)."""
        return cls.model_validate(merged_environment(os.environ if environ is None else environ))
