"""The recorder's settings as the original distributes them: `$RECORDINGS_PATH/.env`.

OpenVidu passes its recording container nine variables and nothing else, so a primary
recorder cannot learn the controller's address or the bucket from its environment. The
original HA project keeps them in `/recordings/.env` (OpenVidu's recordings folder, which
every recording container mounts); this reads that file. The rule: `KEY=VALUE` lines,
`#` comments, an optional `export `, optional quotes; the environment wins over the file.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger("recorder.settings")
DEFAULT_RECORDINGS_PATH = "/recordings"
LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return re.sub(r"\s+#.*$", "", value)  # an unquoted value ends at a trailing comment


def parse_env_file(text: str) -> dict[str, str]:
    """`KEY=VALUE` lines as docker compose and the original's scripts read them."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.match(line)
        if match is None:
            log.warning("ignored a line of the settings file that is not KEY=VALUE: %r", line[:80])
            continue
        values[match.group(1)] = _unquote(match.group(2))
    return values


def settings_file(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("RECORDINGS_PATH") or DEFAULT_RECORDINGS_PATH) / ".env"


def merged_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The file's values under the environment's: what the recorder is configured with."""
    path = settings_file(environ)
    try:
        from_file = parse_env_file(path.read_text())
    except FileNotFoundError:
        from_file = {}
    except OSError as error:
        log.warning("could not read %s: %s", path, error)
        from_file = {}
    return {**from_file, **environ}


def with_controller_url(data: Any) -> Any:
    """The original scripts knew the controller as HA_CONTROLLER_HOST and _PORT (the .env still
    says so): the URL from them, unless HA_CONTROLLER_URL is given."""
    if isinstance(data, dict) and not data.get("HA_CONTROLLER_URL") and data.get("HA_CONTROLLER_HOST"):
        port = data.get("HA_CONTROLLER_PORT", "8080")
        data = {**data, "HA_CONTROLLER_URL": f"http://{data['HA_CONTROLLER_HOST']}:{port}"}
    return data
