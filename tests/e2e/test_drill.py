"""The failover drill in CI, fast profile: real recorder processes, real ffmpeg, real kills."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.drill import DrillStack, Run, start_stack, stop_stack

pytestmark = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="ffmpeg is not installed (make installs it)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DrillStack]:
    running = start_stack(tmp_path_factory.mktemp("drill"), "fast")
    yield running
    stop_stack(running)


def drill(stack: DrillStack, tmp_path: Path, mode: str) -> dict:
    result = Run(stack, tmp_path, mode, random.Random(11)).execute()
    assert result["checks"] == {name: True for name in result["checks"]}, result
    assert result["ok"], result
    return result


def test_a_sigkilled_recorder_is_replaced_and_the_file_plays(stack: DrillStack, tmp_path: Path) -> None:
    result = drill(stack, tmp_path, "kill")
    assert result["epochs"] == [1, 2]
    assert result["gap_s"] > 0  # the gap is reported, not hidden
    assert result["webhook"] == 200


def test_ffmpeg_killed_inside_a_live_recorder_is_healed_in_place(stack: DrillStack, tmp_path: Path) -> None:
    result = drill(stack, tmp_path, "ffmpeg")
    assert result["epochs"] == [1]  # no takeover was needed
    assert "detect_s" not in result


def test_a_hung_ffmpeg_is_restarted(stack: DrillStack, tmp_path: Path) -> None:
    result = drill(stack, tmp_path, "hang")
    assert result["epochs"] == [1]


def test_a_zombie_recorder_stops_itself_and_never_overwrites_a_chunk(
    stack: DrillStack, tmp_path: Path
) -> None:
    result = drill(stack, tmp_path, "zombie")
    assert result["zombie_exit"] == 3  # it heard 409 and stopped recording
    assert result["epochs"] == [1, 2]
    assert result["checks"]["no_chunk_from_a_fenced_recorder"]
