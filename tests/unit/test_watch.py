"""The media-node watcher's rule: which container deaths are reported, and with what."""

from __future__ import annotations

import io
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws

from recorder.capture import write_run_start
from recorder.config import AgentConfig
from recorder.layout import chunk_key
from recorder.salvage import Run, Wanted, parse_run, plan, salvage
from recorder.storage import ChunkStorage
from recorder.watch import Exit, WatchConfig, Watcher, container_environment, recording_exit
from tests.helpers import fragmented_chunk

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


# --- salvage: what a dead recorder left on its disk -------------------------------------------


def test_the_plan_takes_every_closed_chunk_not_stored_then_the_one_being_written() -> None:
    first = Run(1000.0, 0, [(0, 0.0, 2.0), (1, 2.0, 4.0)])
    second = Run(1010.0, 2, [(2, 0.0, 2.0), (3, 2.0, 4.5)])
    assert plan([first, second], stored={0, 1, 2}) == [Wanted(3, 1012.0, 2.5), Wanted(4, 1014.5, None)]
    assert plan([Run(1020.0, 7)], stored=set()) == [Wanted(7, 1020.0, None)]  # died in its first chunk
    assert plan([second], stored={2, 3, 4}) == []  # the partial made it too (a clean death, say)
    assert plan([], stored=set()) == []  # it never started ffmpeg


def test_a_run_is_read_from_its_start_marker_and_segment_list() -> None:
    run = parse_run('{"startedAt": 1700000000.5, "firstIndex": 4}', "0004.mp4,0.000000,2.040000\nbad\n")
    assert run == Run(1700000000.5, 4, [(4, 0.0, 2.04)])


class DeadContainer:
    """The engine's archive API over a folder: what `docker cp` reads of an exited container."""

    id = "c0ffee000000"

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, str]]:
        import docker.errors

        source = self.root / path.lstrip("/")
        if not source.exists():
            raise docker.errors.NotFound(f"no {path}")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(source, arcname=source.name)
        return iter([buffer.getvalue()]), {}


def test_salvage_stores_the_unstored_chunks_under_the_dead_epoch_with_their_wall_clock(
    tmp_path: Path,
) -> None:
    """Chunk 0 reached S3; chunk 1 closed but was not uploaded; chunk 2 was being written when the
    container died, cut inside a fragment. Both go to S3 under epoch 1, placed by wall clock."""
    env = {"VIDEO_ID": "rec1", "HA_AWS_S3_BUCKET": "chunks-bucket", "CHUNK_FOLDER": "/chunks"}
    config = AgentConfig.model_validate(env)
    work = tmp_path / config.work_dir.relative_to("/")
    work.mkdir(parents=True)
    write_run_start(work / "run-1.csv", 1000.0, 0)
    (work / "run-1.csv").write_text("0000.mp4,0.000000,2.000000\n0001.mp4,2.000000,4.000000\n")
    for index in (0, 1, 2):
        fragmented_chunk(work / f"{index:04d}.mp4", 2)
    with (work / "0002.mp4").open("ab") as cut:
        cut.write(b"\x00\x00\x01\x00moof")  # a fragment the kill interrupted
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="chunks-bucket")
        storage = ChunkStorage(config, s3)
        s3.put_object(Bucket="chunks-bucket", Key=chunk_key("rec1", 0, 1), Body=b"stored")
        assert salvage(DeadContainer(tmp_path), env, storage) == [1, 2]
        assert salvage(DeadContainer(tmp_path), env, storage) == []  # write-once: a repeat adds nothing
        one = s3.head_object(Bucket="chunks-bucket", Key=chunk_key("rec1", 1, 1))["Metadata"]
        two = s3.head_object(Bucket="chunks-bucket", Key=chunk_key("rec1", 2, 1))["Metadata"]
    assert (one["wallclock-start"], one["duration"], one["epoch"]) == ("1002.000", "2.000", "1")
    assert two["wallclock-start"] == "1004.000"
    assert 1.5 <= float(two["duration"]) <= 2.1  # its whole fragments, probed


def test_salvage_of_a_recorder_without_a_bucket_or_a_disk_stores_nothing(tmp_path: Path) -> None:
    assert salvage(DeadContainer(tmp_path), {"VIDEO_ID": "rec1"}) == []  # not an HA recorder
    env = {"VIDEO_ID": "rec1", "HA_AWS_S3_BUCKET": "chunks-bucket"}
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="chunks-bucket")
        storage = ChunkStorage(AgentConfig.model_validate(env), s3)
        assert salvage(DeadContainer(tmp_path), env, storage) == []  # no run on its disk: nothing


def test_a_failing_salvage_never_stops_the_watcher(tmp_path: Path) -> None:
    class Broken(DeadContainer):
        def get_archive(self, path: str) -> tuple[Iterator[bytes], dict[str, str]]:
            raise OSError("the engine went away")

    watcher = Watcher(engine=None, calls=None, host="node-a", node_env={"HA_AWS_S3_BUCKET": "b"})  # type: ignore[arg-type]
    assert watcher.salvage(Broken(tmp_path), {"VIDEO_ID": "rec1"}) == []


class BeatCalls:
    """The watcher's calls, answering the node's heartbeats as told (a code, or an error)."""

    def __init__(self, answers: list[int | Exception]) -> None:
        self.answers = answers
        self.beats = 0
        self.done = threading.Event()

    def node_heartbeat(self, host: str) -> Any:
        self.beats += 1
        answer = self.answers[min(self.beats, len(self.answers)) - 1]
        if self.beats >= len(self.answers):
            self.done.set()
        if isinstance(answer, Exception):
            raise answer
        return type("Reply", (), {"status_code": answer, "text": ""})()


def test_the_watcher_beats_for_its_node_and_rides_out_a_controller_that_fails() -> None:
    calls = BeatCalls([200, requests.ConnectionError("down"), 503, 200, 200])
    watcher = Watcher(engine=None, calls=calls, host="node-a")  # type: ignore[arg-type]
    stop = threading.Event()
    beating = threading.Thread(target=watcher.beat, args=(stop, 0.05), daemon=True)
    beating.start()
    assert calls.done.wait(10)  # every answer seen: the failures did not stop it
    stop.set()
    beating.join(5)
    assert not beating.is_alive()
    assert calls.beats >= 5
