"""The media-node watcher's rule: which container deaths are reported, and with what."""

from __future__ import annotations

import pytest

from recorder.watch import Exit, WatchConfig, container_environment, recording_exit

ENV = {"VIDEO_ID": "ses_A", "EPOCH": "2"}


@pytest.mark.parametrize(
    ("environment", "code", "expected"),
    [
        (ENV, 137, Exit("ses_A", "c1", 137, 2)),  # SIGKILL: the container was killed
        (ENV, None, Exit("ses_A", "c1", None, 2)),  # killed before it could exit
        ({"VIDEO_ID": "ses_A"}, 1, Exit("ses_A", "c1", 1, 1)),  # OpenVidu's own recorder: epoch 1
        (ENV, 0, None),  # OpenVidu's q: a clean exit
        (ENV, 3, None),  # fenced off by a newer epoch
        ({"STANDBY_ID": "x"}, 137, None),  # not a recording container (no VIDEO_ID)
        ({}, 137, None),
    ],
)
def test_only_an_unclean_death_of_a_recording_container_is_reported(
    environment: dict[str, str], code: int | None, expected: Exit | None
) -> None:
    assert recording_exit(environment, "c1", code) == expected


def test_the_environment_is_read_from_the_engines_inspection() -> None:
    attrs = {"Config": {"Env": ["VIDEO_ID=ses_A", "URL=http://x/?a=b=c", "EMPTY="]}}
    assert container_environment(attrs) == {"VIDEO_ID": "ses_A", "URL": "http://x/?a=b=c", "EMPTY": ""}
    assert container_environment({}) == {}


def test_the_watcher_reads_the_media_nodes_env_in_the_originals_names() -> None:
    """The node's /recordings/.env names the controller as HA_CONTROLLER_HOST and _PORT."""
    config = WatchConfig.model_validate(
        {"HA_CONTROLLER_HOST": "10.0.0.2", "HA_CONTROLLER_PORT": "5443", "HA_CONTROLLER_USERNAME": "u"}
    )
    assert (config.controller_url, config.username) == ("http://10.0.0.2:5443", "u")
    assert WatchConfig.model_validate({"HA_CONTROLLER_URL": "https://ctl"}).controller_url == "https://ctl"
