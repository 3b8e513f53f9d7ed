"""A failed drill run is kept: its folder and every S3 object of its recordings, metadata too."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from local.drill.keep import keep_failed, video_ids
from local.drill.stack import BUCKET


def test_a_drain_line_names_its_three_recordings_and_a_run_line_its_one() -> None:
    assert video_ids({"video_id": "a"}) == ["a"]
    assert video_ids({"recordings": [{"video_id": "a"}, {"video_id": "b"}], "ok": False}) == ["a", "b"]
    assert video_ids({"error": "timed out"}) == []


def test_a_failed_run_keeps_its_folder_and_its_recordings_objects(tmp_path: Path) -> None:
    with mock_aws():  # the stack's embedded moto, in-process: keep_failed asks the stack for its client
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="v1/chunks/0003-e2.mp4", Body=b"mp4", Metadata={"duration": "10.0"})
        s3.put_object(Bucket=BUCKET, Key="v1/manifest.json", Body=b"{}")
        s3.put_object(Bucket=BUCKET, Key="v2/chunks/0000-e1.mp4", Body=b"other")  # another recording
        run_dir = tmp_path / "run-7"
        (run_dir / "containers").mkdir(parents=True)
        (run_dir / "v1.mp4").write_bytes(b"final")

        stack = SimpleNamespace(client=lambda service: s3)
        kept = keep_failed(stack, run_dir, {"run": 7, "video_id": "v1"}, tmp_path / "kept")  # type: ignore[arg-type]
    assert kept == tmp_path / "kept" / "run-7"
    assert (kept / "v1.mp4").read_bytes() == b"final"
    assert json.loads((kept / "result.json").read_text())["video_id"] == "v1"
    assert (kept / "s3/v1/chunks/0003-e2.mp4").read_bytes() == b"mp4"
    assert json.loads((kept / "s3/v1/chunks/0003-e2.mp4.metadata.json").read_text()) == {"duration": "10.0"}
    assert (kept / "s3/v1/manifest.json").exists()
    assert not (kept / "s3/v2").exists()


def test_a_held_drill_prints_the_consoles_links_and_serves_until_ctrl_c(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from local.drill import runner

    def interrupted(self: threading.Event, timeout: float | None = None) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(threading.Event, "wait", interrupted)
    stack = SimpleNamespace(url="http://127.0.0.1:9000", auth=("drill", "pw"))
    runner.hold_for_the_console(stack, [{"video_id": "v1"}, {"recordings": [{"video_id": "v2"}]}])  # type: ignore[arg-type]
    printed = json.loads(capsys.readouterr().out)
    assert printed["console"] == "http://127.0.0.1:9000/console"
    assert printed["recordings"] == [
        "http://127.0.0.1:9000/console#/recording/v1",
        "http://127.0.0.1:9000/console#/recording/v2",
    ]
