"""A recorder's logs go next to its recording: the rule is that what explains a recording
outlives the container that made it.

While it records, a recorder keeps its logs in its own work folder: the agent's (`agent.log`),
ffmpeg's (`ffmpeg-N.log`) and the capture stack's (`stack/xvfb.log`, `pulse.log`,
`browser.log`). When it finalizes, it copies them to `VIDEO_ID/logs/eE/` in S3, and the
manifest names every log stored for the recording there (the original kept them only in debug
mode, inside a container that is gone when they matter). A log that cannot be stored never fails
the finalize: the recording matters more than its logs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.config import AgentConfig
from recorder.layout import log_key, logs_prefix

if TYPE_CHECKING:  # the type only: the entry point reads LOG_FORMAT without loading boto3
    from recorder.storage import ChunkStorage

log = logging.getLogger("recorder.logs")
AGENT_LOG = "agent.log"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


class _AgentLog(logging.FileHandler):
    """Ours, so that a second recording in the same process replaces it instead of adding one."""


def keep_agent_log(config: AgentConfig) -> Path:
    """The agent's own log, also written to its work folder (stderr still gets every line)."""
    config.work_dir.mkdir(parents=True, exist_ok=True)
    path = config.work_dir / AGENT_LOG
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _AgentLog)]:
        root.removeHandler(old)
        old.close()
    handler = _AgentLog(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    return path


def prefix(config: AgentConfig) -> str:
    return logs_prefix(config.video_id)


def store_logs(config: AgentConfig, storage: ChunkStorage) -> list[str]:
    """Copies this recorder's logs to S3; returns the keys of every log the recording has there."""
    folder = config.work_dir
    for path in sorted(folder.rglob("*.log")) if folder.is_dir() else []:
        key = log_key(config.video_id, config.epoch, path.relative_to(folder).as_posix())
        try:
            storage.put_file(path, key, "text/plain; charset=utf-8")
        except Exception as error:  # the recording matters more than its logs
            log.warning("could not store %s as %s: %s", path, key, error)
    try:
        return storage.keys(prefix(config))
    except Exception as error:
        log.warning("could not list the stored logs of %s: %s", config.video_id, error)
        return []
