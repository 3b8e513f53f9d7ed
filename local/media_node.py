"""`make up` plays the HA side of an OpenVidu media node: it writes `$RECORDINGS_PATH/.env`.

That is how the original distributes the recorder's settings (OpenVidu passes its recording
container nine variables and nothing else), in the original's names, pointing at this stack:
the controller's address and credentials, the bucket, the S3 endpoint and its credentials,
the chunk timing, and the synthetic source (there is no display here). A recorder started as
OpenVidu starts it, with `RECORDINGS_PATH` at that folder, records against this stack.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from hacore.settings import Settings
from local import ROOT

DEFAULT_RECORDINGS_PATH = ".local-data/recordings"


def recordings_path(environ: Mapping[str, str]) -> Path:
    path = Path(environ.get("RECORDINGS_PATH") or DEFAULT_RECORDINGS_PATH)
    return path if path.is_absolute() else ROOT / path


def recorder_settings(
    environ: Mapping[str, str], controller_host: str, controller_port: int
) -> dict[str, str]:
    settings = Settings.from_env(environ)
    folder = recordings_path(environ)
    return {
        "HA_CONTROLLER_HOST": controller_host,
        "HA_CONTROLLER_PORT": str(controller_port),
        "HA_CONTROLLER_USERNAME": environ["HA_CONTROLLER_USERNAME"],
        "HA_CONTROLLER_PASSWORD": environ["HA_CONTROLLER_PASSWORD"],
        "HA_AWS_S3_BUCKET": settings.s3_bucket or "",
        "HA_AWS_S3_SERVICE_ENDPOINT": environ["AWS_ENDPOINT_URL"],
        "HA_AWS_ACCESS_KEY": environ.get("AWS_ACCESS_KEY_ID", "local"),
        "HA_AWS_SECRET_KEY": environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        "HA_AWS_REGION": environ.get("AWS_REGION", "us-east-1"),
        "HA_RECORDING_STORAGE": "s3",
        "CHUNK_FOLDER": str(folder.parent / "chunks"),
        "CHUNK_TIME_SIZE": str(settings.chunk_time_size_s),
        "HEARTBEAT_INTERVAL": str(settings.heartbeat_interval_s),
        # a test pattern here (no display); `openvidu` (a real browser) where the recorders can have one
        "RECORDER_SOURCE": environ.get("RECORDER_SOURCE") or "synthetic",
    }


def write_env_file(environ: Mapping[str, str], controller_host: str, controller_port: int) -> Path:
    """Writes the file (readable by its owner only: it holds the controller's password)."""
    folder = recordings_path(environ)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ".env"
    lines = [
        "# Written by `make up`: the OpenVidu HA recorder's settings for the recorders of this media node,",
        "# in the original's names. OpenVidu mounts this folder at /recordings in every recording container.",
        *(
            f"{key}={value}"
            for key, value in recorder_settings(environ, controller_host, controller_port).items()
        ),
    ]
    partial = path.with_name(".env.part")
    partial.write_text("\n".join(lines) + "\n")
    os.chmod(partial, 0o600)
    os.replace(partial, path)
    return path
