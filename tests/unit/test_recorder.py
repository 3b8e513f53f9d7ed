"""The recorder agent's pieces: configuration, the ffmpeg command, write-once uploads, the manifest."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws

from recorder.capture import Capture, CaptureBroken, Chunk, ffmpeg_command
from recorder.config import AgentConfig
from recorder.controller import Controller, retry_delay
from recorder.finalize import ChunkEntry, find_gaps, place
from recorder.layout import fence_key
from recorder.media import concat, keep_whole_fragments, probe_duration
from recorder.storage import AlreadyStored, ChunkStorage, Uploader
from tests.helpers import fragmented_chunk

BASE = {"VIDEO_ID": "rec1", "HA_CONTROLLER_URL": "http://ctl", "HA_AWS_S3_BUCKET": "chunks-bucket"}


def test_config_reads_the_original_variables() -> None:
    config = AgentConfig.from_env(
        BASE
        | {
            "START_CHUNK": "0007",
            "IS_RECOVERY_CONTAINER": "true",
            "EPOCH": "3",
            "CHUNK_TIME_SIZE": "20",
            "CHUNK_FOLDER": "/data",
        }
    )
    assert (config.start_chunk, config.recovery, config.epoch, config.chunk_time_size) == (7, True, 3, 20)
    assert config.work_dir == Path("/data/rec1/e3")
    legacy = AgentConfig.from_env(
        {
            "VIDEO_ID": "r",
            "HA_AWS_S3_BUCKET": "b",
            "HA_CONTROLLER_HOST": "ov-recorder",
            "HA_CONTROLLER_PORT": "8080",
        }
    )
    assert legacy.controller_url == "http://ov-recorder:8080"
    assert "hunter2" not in repr(AgentConfig.from_env(BASE | {"HA_CONTROLLER_PASSWORD": "hunter2"}))


def test_ffmpeg_cuts_exact_chunks_numbered_from_start_chunk(tmp_path: Path) -> None:
    config = AgentConfig.from_env(
        BASE | {"START_CHUNK": "12", "CHUNK_TIME_SIZE": "10", "RECORDER_SOURCE": "synthetic"}
    )
    command = ffmpeg_command(config, 12, tmp_path / "run-1.csv")
    joined = " ".join(command)
    assert "-segment_time 10" in joined
    assert "-segment_start_number 12" in joined
    assert "expr:gte(t,n_forced*10)" in joined  # a keyframe at every chunk boundary
    assert "+live" in joined
    assert "testsrc2" in joined
    assert "sine=" in joined
    capture = AgentConfig.from_env(BASE | {"RECORDER_SOURCE": "openvidu", "DISPLAY": ":99"})
    assert "x11grab" in ffmpeg_command(capture, 0, tmp_path / "l.csv")


def test_a_quiet_picture_killed_mid_chunk_leaves_its_whole_fragments_on_disk(tmp_path: Path) -> None:
    """The capture's own output settings, on a still grey picture (a few KB/s, as a quiet layout
    page makes): killed 3.5 s into a chunk, the chunk on disk already holds its fragments, so the
    watcher's salvage (or the agent's own, after ffmpeg dies) keeps them."""
    config = AgentConfig.from_env(BASE | {"CHUNK_TIME_SIZE": "10", "RECORDER_SOURCE": "synthetic"})
    command = ffmpeg_command(config, 0, tmp_path / "run-1.csv")
    source = next(i for i, arg in enumerate(command) if arg.startswith("testsrc2="))
    command[source] = "color=c=gray:size=320x240:rate=15"  # the test pattern's bitrate, far lower
    ffmpeg = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3.5)
    finally:
        ffmpeg.kill()
        ffmpeg.wait(timeout=10)
    duration = keep_whole_fragments(tmp_path / "0000.mp4")
    assert duration is not None
    assert duration >= 2.0, duration


@pytest.fixture
def storage() -> Iterator[ChunkStorage]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="chunks-bucket")
        yield ChunkStorage(AgentConfig.from_env(BASE | {"EPOCH": "2"}), s3)


def chunk(tmp_path: Path, index: int) -> Chunk:
    path = tmp_path / f"{index:04d}.mp4"
    path.write_bytes(b"video" * 10)
    return Chunk(index, path, 1_800_000_000.0 + index * 10, 10.0)


def test_uploads_are_write_once_and_keyed_by_epoch(storage: ChunkStorage, tmp_path: Path) -> None:
    uploader = Uploader(storage)
    uploader.add([chunk(tmp_path, 0), chunk(tmp_path, 1)])
    uploader.upload_due()
    assert uploader.stored == [0, 1]
    assert storage.head("rec1/chunks/0001-e2.mp4")["epoch"] == "2"
    assert (tmp_path / "0001.mp4").exists()  # stored durably; the local copy stays until the final file
    with pytest.raises(AlreadyStored):  # S3 refuses to overwrite it
        storage.put_chunk(chunk(tmp_path, 1))
    uploader.add([chunk(tmp_path, 1)])  # a retry whose first attempt landed: stored, not lost
    uploader.upload_due()
    assert (uploader.pending, uploader.stored) == ({}, [0, 1, 1])
    # another recorder (the next epoch) with the same chunk number shadows nothing
    other = ChunkStorage(AgentConfig.from_env(BASE | {"EPOCH": "3"}), storage.s3)
    other.put_chunk(chunk(tmp_path, 1))
    keys = sorted(item["Key"] for item in storage.list_chunks())
    assert keys == ["rec1/chunks/0000-e2.mp4", "rec1/chunks/0001-e2.mp4", "rec1/chunks/0001-e3.mp4"]


def test_a_fenced_recorder_learns_it_from_s3_and_uploads_nothing_more(
    storage: ChunkStorage, tmp_path: Path
) -> None:
    uploader = Uploader(storage)
    allowed = lambda: not storage.fenced()  # noqa: E731 - as the agent asks before uploading
    uploader.add([chunk(tmp_path, 0)])
    uploader.upload_due(allowed)
    assert uploader.stored == [0]
    storage.s3.put_object(Bucket="chunks-bucket", Key=fence_key("rec1", 2), Body=b"")  # its own: no fence
    assert not storage.fenced()
    storage.s3.put_object(Bucket="chunks-bucket", Key=fence_key("rec1", 3), Body=b"")  # a takeover's
    assert storage.fenced()
    uploader.add([chunk(tmp_path, 1)])
    uploader.upload_due(allowed)
    assert (uploader.stored, list(uploader.pending)) == ([0], [1])


class FlakyS3:
    def __init__(self, real: Any, failures: int) -> None:
        self._real = real
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def put_object(self, **kwargs: Any) -> Any:
        if self.failures:
            self.failures -= 1
            raise EndpointConnectionError(endpoint_url="http://s3")
        return self._real.put_object(**kwargs)


def test_a_failed_upload_stays_on_disk_and_is_retried(storage: ChunkStorage, tmp_path: Path) -> None:
    storage.s3 = FlakyS3(storage.s3, failures=2)
    uploader = Uploader(storage)
    piece = chunk(tmp_path, 4)
    uploader.add([piece])
    uploader.upload_due()
    assert uploader.stored == []
    assert 4 in uploader.pending
    assert piece.path.exists()
    uploader.drain(deadline=time.monotonic() + 10)
    assert uploader.stored == [4]
    assert uploader.newest_stored == 4


def wait_until_exited(capture: Capture, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while capture.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not capture.running, "ffmpeg should have exited"


def test_a_capture_whose_source_is_gone_gives_up_after_its_failed_starts(tmp_path: Path) -> None:
    """A real ffmpeg grabbing a display that does not exist: each run dies before its first chunk."""
    config = AgentConfig.from_env(
        BASE | {"CHUNK_FOLDER": str(tmp_path), "DISPLAY": ":987", "CAPTURE_MAX_FAILED_STARTS": "3"}
    )
    capture = Capture(config)
    capture.start()
    for failed in (1, 2):
        wait_until_exited(capture)
        assert capture.restart("ffmpeg exited") == []
        assert (capture.failed_starts, capture.restarts) == (failed, failed)
    wait_until_exited(capture)
    with pytest.raises(CaptureBroken, match="3 times in a row without closing a chunk"):
        capture.restart("ffmpeg exited")


def test_a_run_that_closed_a_chunk_is_healed_without_counting_a_failed_start(tmp_path: Path) -> None:
    config = AgentConfig.from_env(
        BASE
        | {
            "CHUNK_FOLDER": str(tmp_path),
            "RECORDER_SOURCE": "synthetic",
            "CHUNK_TIME_SIZE": "1",
            "RESOLUTION": "320x240",
            "CAPTURE_MAX_FAILED_STARTS": "1",
        }
    )
    capture = Capture(config)
    capture.start()
    try:
        deadline = time.monotonic() + 20
        closed: list[Chunk] = []
        while not closed and time.monotonic() < deadline:
            closed = capture.finished_chunks()
            time.sleep(0.1)
        assert closed, "the synthetic source should close a chunk within a few seconds"
        capture.kill()  # ffmpeg dies inside a live recorder
        capture.restart("ffmpeg exited")  # with one failed start allowed, a miscount would raise here
        assert (capture.failed_starts, capture.restarts, capture.running) == (0, 1, True)
    finally:
        capture.kill()


def test_a_chunk_cut_mid_packet_is_trimmed_so_the_concat_loses_nothing_after_it(tmp_path: Path) -> None:
    cut = fragmented_chunk(tmp_path / "0001.mp4", 4)
    cut.write_bytes(cut.read_bytes()[:-3000])  # SIGKILL in the middle of the last packet
    after = fragmented_chunk(tmp_path / "0002.mp4", 3)
    duration = keep_whole_fragments(cut)
    assert duration is not None
    assert 2.5 < duration < 4
    final = tmp_path / "final.mp4"
    concat([(cut, None), (after, None)], final)
    assert abs(probe_duration(final) - (duration + probe_duration(after))) < 0.2  # type: ignore[operator]
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(final), "-f", "null", "-"], capture_output=True, text=True
    )
    assert decode.stderr == ""
    assert keep_whole_fragments(after) == probe_duration(after)  # a whole chunk is left as it is


def test_a_plain_mp4_chunk_is_left_as_it_is(tmp_path: Path) -> None:
    """Chunks of recorders already in the field need not be fragmented: nothing to cut there."""
    plain = tmp_path / "0003.mp4"
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"),
            *("-t", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(plain)),
        ],
        check=True,
        timeout=60,
    )
    before = plain.read_bytes()
    assert keep_whole_fragments(plain) == probe_duration(plain)
    assert plain.read_bytes() == before


def test_gaps_name_the_recorders_and_the_missing_chunks() -> None:
    entries = [
        ChunkEntry(0, "k0", 1, 100.0, 10.0),
        ChunkEntry(1, "k1", 1, 110.0, 10.0),
        ChunkEntry(2, "k2", 1, 120.0, None, included=False, problem="truncated"),
        ChunkEntry(4, "k4", 2, 155.0, 10.0),
        ChunkEntry(5, "k5", 2, 165.0, 10.0),
    ]
    gaps, missing = find_gaps(entries, place(entries)[0])
    (gap,) = gaps
    assert (gap.afterChunk, gap.beforeChunk, gap.fromEpoch, gap.toEpoch) == (1, 4, 1, 2)
    assert gap.seconds == 35.0
    assert gap.missingChunks == [3]
    assert missing == [3]


def test_the_entrypoint_is_valid_bash() -> None:
    import subprocess

    entrypoint = Path(__file__).resolve().parents[2] / "recorder" / "entrypoint.sh"
    assert subprocess.run(["bash", "-n", str(entrypoint)], capture_output=True).returncode == 0


def test_heartbeats_back_off_after_failures_up_to_the_interval() -> None:
    assert retry_delay(0, 10) == 10  # healthy: every interval
    firsts = [retry_delay(1, 10) for _ in range(50)]
    assert all(0.25 <= d <= 0.5 for d in firsts)  # a lost heartbeat is retried soon
    assert all(2.0 <= retry_delay(4, 10) <= 4.0 for _ in range(50))
    assert all(5.0 <= retry_delay(12, 10) <= 10 for _ in range(50))  # never beyond the interval
    assert len({round(d, 6) for d in firsts}) > 1  # jittered: a fleet does not retry in one instant


def test_a_controller_in_trouble_makes_the_heartbeat_fail_so_it_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    controller = Controller(AgentConfig.from_env(BASE))
    answers = iter([503, 429, 200])

    def reply(*_: Any, **__: Any) -> Any:
        class Reply:
            status_code = next(answers)
            text = ""

        return Reply()

    monkeypatch.setattr(controller._http, "request", reply)
    for _ in range(2):
        with pytest.raises(requests.HTTPError):
            controller.heartbeat(3, 0)
    controller.heartbeat(3, 0)
