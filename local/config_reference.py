"""`docs/configuration.md`, generated from the settings' own field descriptions: the controller's
(one table per concern, `hacore.settings`), the recorder's (`recorder.config`), a standby's
(`recorder.standby`), and the local stack's few of its own. `python -m local config-reference`
writes it; `tests/unit/test_config_reference.py` fails when it is not what this generates.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel

from hacore.settings import CONCERNS, TIMING_PROFILES
from local import ROOT
from recorder.config import AgentConfig
from recorder.standby import StandbyConfig
from recorder.watch import WatchConfig

DOC = ROOT / "docs" / "configuration.md"
# Read by the local stack and its tools alone (`local/`): not the controller's, not a recorder's
LOCAL_ONLY = {
    "PORT": ("8080", "where `make up` listens"),
    "HOST": ("127.0.0.1", "the address it listens on"),
    "MOTO_PORT": ("a free port", "the embedded moto server's port"),
    "AWS_ENDPOINT_URL": ("", "use this endpoint (LocalStack, another moto) instead of the embedded moto"),
    "DETECTOR_SCHEDULE_SECONDS": ("the template's rate", "how often the local detector runs"),
    "LOCAL_SQS_POLLERS": ("1", "relay pollers of the local queue (moto's queue has no lock: keep 1)"),
    "LOG_LEVEL": ("INFO", "the local stack's log level"),
    "IMAGE": ("openvidu-ha-recorder:latest", "`make image`: the recorder image's name"),
    "BASE_IMAGE": ("made with debootstrap", "`make image`: the base image, if the engine has one"),
    "RUNS": ("1", "`make drill`: how many runs"),
    "RUNTIME": ("process", "`make drill`: docker runs the recorders as containers of the image"),
    "DRILL_SOURCE": ("synthetic", "`make drill`: openvidu records a real Chromium on a test page"),
    "OVHA_URL": ("http://127.0.0.1:8080", "`ovha`: the controller's address"),
    "OVHA_STACK": ("", "`ovha`: a deployed stack's name, its address read from its outputs"),
}
INTRO = """# Configuration

Every setting, with its environment variable (the original product's name where it had one, so
an existing `.env` keeps working), its default and what it does. Generated from the settings'
field descriptions by `python -m local config-reference`: edit the descriptions, not this file.
`make validate` checks a configuration and names what is wrong. In AWS the template sets the
tables, queues, secrets and the ECS launcher's settings; locally `make up` does.
"""


def table(model: type[BaseModel], only_own: bool = False) -> list[str]:
    """One row per field with an alias: the variable, its default (and the fast timing's), and
    its description. `only_own`: the fields the class itself declares (a concern of a composite)."""
    names = model.__annotations__ if only_own else model.model_fields
    lines = ["| variable | default | what it is |", "|---|---|---|"]
    for name in names:
        info = model.model_fields.get(name)
        if info is None or info.alias is None:
            continue
        default = "" if info.default in (None, "") or info.default_factory else f"`{info.default}`"
        fast = TIMING_PROFILES["fast"].get(info.alias)
        if fast is not None:
            default += f" (fast: `{fast:g}`)"
        lines.append(f"| `{info.alias}` | {default} | {info.description or ''} |")
    return lines


def section(title: str, model: type[BaseModel], only_own: bool = False) -> list[str]:
    doc = " ".join((sys.modules[model.__module__].__doc__ or "").split())
    return [f"### {title}", "", doc, "", *table(model, only_own), ""]


def generate() -> str:
    lines = [INTRO, "## The controller (`functions/hacore/settings/`)", ""]
    for concern in CONCERNS:
        lines += section(concern.__module__.rsplit(".", 1)[-1], concern, only_own=True)
    lines += ["## The recorder (`recorder/config.py`)", "", *table(AgentConfig), ""]
    lines += ["## A warm standby (`recorder/standby.py`)", "", *table(StandbyConfig), ""]
    lines += ["## A media node's watcher (`recorder/watch.py`)", "", *table(WatchConfig), ""]
    lines += ["## The local stack and its tools (`local/`)", ""]
    lines += ["| variable | default | what it is |", "|---|---|---|"]
    lines += [f"| `{name}` | {default} | {what} |" for name, (default, what) in LOCAL_ONLY.items()]
    return "\n".join(lines).rstrip() + "\n"


def write(path: Path = DOC) -> Path:
    path.write_text(generate())
    return path
