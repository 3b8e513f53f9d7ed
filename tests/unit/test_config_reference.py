"""docs/configuration.md is what the settings' field descriptions generate, and lists them all."""

from __future__ import annotations

from hacore.settings import Settings
from local.config_reference import DOC, LOCAL_ONLY, generate
from recorder.config import AgentConfig
from recorder.standby import StandbyConfig
from recorder.watch import WatchConfig


def test_the_document_is_what_the_settings_generate() -> None:
    assert DOC.read_text() == generate(), "run: python -m local config-reference"


def test_every_setting_is_listed_with_a_description() -> None:
    text = DOC.read_text()
    for model in (Settings, AgentConfig, StandbyConfig, WatchConfig):
        for name, info in model.model_fields.items():
            assert info.alias is not None, f"{model.__name__}.{name} has no environment variable"
            assert f"| `{info.alias}` |" in text, f"{info.alias} is not in {DOC.name}"
            assert info.description, f"{info.alias} has no description"
    for name in LOCAL_ONLY:
        assert f"| `{name}` |" in text
