"""One timeline from every recorder's chunks: a split brain (two recorders holding the same moment)
plays each moment once, in order, and leaves out nothing any recorder stored."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from recorder.config import AgentConfig
from recorder.finalize import finalize
from recorder.media import probe_duration
from recorder.timeline import Piece, arrange, reorderings
from tests.helpers import fragmented_chunk


def test_chunks_of_one_recorder_play_whole_in_order() -> None:
    pieces = [Piece(i, 1, 100.0 + 2 * i, 2.0) for i in (2, 0, 1)]
    arrangement = arrange(pieces)
    assert [p.piece.index for p in arrangement.placed] == [0, 1, 2]
    assert [p.seconds for p in arrangement.placed] == [2.0, 2.0, 2.0]
    assert arrangement.overlaps == []
    assert arrangement.overlap_seconds == 0


def test_a_cut_off_recorder_and_its_backup_play_each_moment_once() -> None:
    """Epoch 1 records on to t=112 while its backup (epoch 2) starts at 107.3, numbered from 4:
    by number the file would jump back in time; by wall clock, epoch 1's chunk 3 is cut at
    107.3, its chunks 4 and 5 (inside the backup's time) are left out, and nothing is twice."""
    primary = [Piece(i, 1, 100.0 + 2 * i, 2.0) for i in range(6)]  # 100..112
    backup = [Piece(i, 2, 107.3 + 2 * (i - 4), 2.0) for i in range(4, 8)]  # 107.3..115.3
    arrangement = arrange(primary + backup)
    order = [(p.piece.epoch, p.piece.index) for p in arrangement.placed]
    assert order == [(1, 0), (1, 1), (1, 2), (1, 3), (2, 4), (2, 5), (2, 6), (2, 7)]
    assert arrangement.placed[3].seconds == pytest.approx(1.3)
    starts = [p.piece.start for p in arrangement.placed]
    ends = [p.piece.start + p.seconds for p in arrangement.placed]  # type: ignore[operator]
    assert all(
        after >= before - 1e-9 for before, after in zip(ends, starts[1:], strict=False)
    )  # no instant twice
    assert reorderings(starts) == 0
    assert ends[-1] - starts[0] == pytest.approx(sum(p.seconds for p in arrangement.placed))  # no hole
    cut = [(o.epoch, o.index, o.seconds) for o in arrangement.overlaps if o.action == "cut"]
    dropped = [(o.epoch, o.index) for o in arrangement.overlaps if o.action == "dropped"]
    assert cut == [(1, 3, pytest.approx(0.7))]
    assert dropped == [(1, 4), (1, 5)]  # one switch of recorder, not one per chunk
    assert arrangement.overlap_seconds == pytest.approx(4.7)


def test_an_older_recorder_fills_a_hole_in_the_newer_ones_time() -> None:
    """The backup's ffmpeg restarted (a 1 s hole at 110..111); only the cut-off primary's chunks
    hold that second: they play there, each cut where a later chunk starts, so nothing stored
    is left out and nothing plays twice."""
    primary = [Piece(4, 1, 108.5, 2.0), Piece(5, 1, 110.5, 2.0)]
    backup = [Piece(4, 2, 106.0, 2.0), Piece(5, 2, 108.0, 2.0), Piece(6, 2, 111.0, 2.0)]
    arrangement = arrange(primary + backup)
    placed = [(p.piece.epoch, p.piece.index, round(p.seconds, 2)) for p in arrangement.placed]
    assert placed == [(2, 4, 2.0), (2, 5, 0.5), (1, 4, 2.0), (1, 5, 0.5), (2, 6, 2.0)]
    assert sum(p.seconds for p in arrangement.placed) == pytest.approx(
        113.0 - 106.0
    )  # no hole, nothing twice
    assert [(o.epoch, o.index, o.action) for o in arrangement.overlaps] == [(2, 5, "cut"), (1, 5, "cut")]


def test_a_chunk_starting_with_the_one_before_it_replaces_it_whole() -> None:
    arrangement = arrange([Piece(0, 1, 100.0, 1.0), Piece(0, 2, 100.01, 3.0)])
    assert [(p.piece.epoch, p.seconds) for p in arrangement.placed] == [(2, 3.0)]
    assert [(o.epoch, o.action) for o in arrangement.overlaps] == [(1, "dropped")]


def test_chunks_without_a_wall_clock_keep_the_order_of_their_numbers() -> None:
    """The original's recorders wrote no wall-clock start: their numbers decide, as before."""
    arrangement = arrange([Piece(1, None, None, 10.0), Piece(0, None, None, 10.0)])
    assert not arrangement.timed
    assert [p.piece.index for p in arrangement.placed] == [0, 1]


def test_reorderings_count_every_step_back_in_time() -> None:
    assert reorderings([1.0, 2.0, 1.5, 3.0, 2.0]) == 2
    assert reorderings([1.0, 2.0, None, 3.0]) == 0


@pytest.fixture
def s3() -> Iterator[object]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="recordings")
        yield client


def finalizer(tmp_path: Path, epoch: int) -> AgentConfig:
    """A recorder finalizing `rec` from the moto bucket, its work folder under tmp_path."""
    return AgentConfig.from_env(
        {
            "VIDEO_ID": "rec",
            "HA_CONTROLLER_URL": "http://ctl",
            "HA_AWS_S3_BUCKET": "recordings",
            "RECORDER_ACTION": "finalize",
            "EPOCH": str(epoch),
            "CHUNK_FOLDER": str(tmp_path / "chunks"),
        }
    )


def test_finalize_joins_a_split_brain_into_one_timeline(s3: object, tmp_path: Path) -> None:
    """Real chunks in S3 from two recorders that overlap by 1.5 s: the final file plays the union
    of their time once (measured on the file), and the manifest reports the overlap."""
    upload = s3.put_object  # type: ignore[attr-defined]
    media = tmp_path / "media"
    media.mkdir()
    stored = []
    for epoch, index, start in (
        (1, 0, 1000.0),
        (1, 1, 1002.0),
        (1, 2, 1004.0),
        (2, 2, 1004.5),
        (2, 3, 1006.5),
    ):
        path = fragmented_chunk(media / f"{index}-{epoch}.mp4", 2)
        duration = probe_duration(path)
        assert duration is not None
        upload(
            Bucket="recordings",
            Key=f"rec/chunks/{index:04d}-e{epoch}.mp4",
            Body=path.read_bytes(),
            Metadata={"epoch": str(epoch), "wallclock-start": str(start), "duration": f"{duration:.3f}"},
        )
        stored.append((start, duration))
    config = finalizer(tmp_path, epoch=2)
    from recorder.storage import ChunkStorage

    manifest = finalize(config, ChunkStorage(config, s3))
    union = max(s + d for s, d in stored) - min(s for s, _ in stored)
    assert manifest.timeline == [[0, 1], [1, 1], [2, 1], [2, 2], [3, 2]]
    assert manifest.overlapSeconds == pytest.approx(1.5, abs=0.05)
    assert [(o["index"], o["epoch"], o["action"]) for o in manifest.overlaps] == [(2, 1, "cut")]
    final = tmp_path / "final.mp4"
    s3.download_file("recordings", manifest.final, str(final))  # type: ignore[attr-defined]
    assert probe_duration(final) == pytest.approx(union, abs=0.15)
    decode = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(final), "-f", "null", "-"], capture_output=True, text=True
    )
    assert decode.stderr == ""
    stored_manifest = json.loads(s3.get_object(Bucket="recordings", Key="rec/manifest.json")["Body"].read())  # type: ignore[attr-defined]
    assert stored_manifest["overlapSeconds"] == manifest.overlapSeconds


def test_finalize_stores_the_recorders_logs_next_to_the_recording(s3: object, tmp_path: Path) -> None:
    """The finalizing recorder's logs (agent, ffmpeg, capture stack) go to VIDEO_ID/logs/eE/, and
    the manifest names every log the recording has there, another recorder's too."""
    import logging

    from recorder.logs import keep_agent_log
    from recorder.storage import ChunkStorage

    path = fragmented_chunk(tmp_path / "c.mp4", 2)
    s3.put_object(  # type: ignore[attr-defined]
        Bucket="recordings",
        Key="rec/chunks/0000-e2.mp4",
        Body=path.read_bytes(),
        Metadata={"epoch": "2", "wallclock-start": "1000.0", "duration": "2.000"},
    )
    s3.put_object(Bucket="recordings", Key="rec/logs/e1/agent.log", Body=b"the primary's")  # type: ignore[attr-defined]
    config = finalizer(tmp_path, epoch=2)
    keep_agent_log(config)
    logging.getLogger("recorder.test").warning("a line the agent wrote")
    (config.work_dir / "ffmpeg-1.log").write_text("frame=1\n")
    (config.work_dir / "stack").mkdir()
    (config.work_dir / "stack" / "browser.log").write_text("chromium started\n")
    manifest = finalize(config, ChunkStorage(config, s3))
    assert manifest.logs == [
        "rec/logs/e1/agent.log",
        "rec/logs/e2/agent.log",
        "rec/logs/e2/ffmpeg-1.log",
        "rec/logs/e2/stack/browser.log",
    ]
    agent_log = s3.get_object(Bucket="recordings", Key="rec/logs/e2/agent.log")["Body"].read()  # type: ignore[attr-defined]
    assert b"a line the agent wrote" in agent_log
    stored = json.loads(s3.get_object(Bucket="recordings", Key="rec/manifest.json")["Body"].read())  # type: ignore[attr-defined]
    assert stored["logs"] == manifest.logs


def test_a_log_that_cannot_be_stored_never_fails_the_finalize(s3: object, tmp_path: Path) -> None:
    from recorder.logs import store_logs
    from recorder.storage import ChunkStorage

    class LogsRefused(ChunkStorage):
        def put_file(self, path: Path, key: str, content_type: str) -> None:
            if "/logs/" in key:
                raise OSError("S3 refused the log")
            super().put_file(path, key, content_type)

    config = finalizer(tmp_path, epoch=1)
    config.work_dir.mkdir(parents=True)
    (config.work_dir / "ffmpeg-1.log").write_text("frame=1\n")
    assert store_logs(config, LogsRefused(config, s3)) == []  # nothing stored, and no exception
