"""The files of OpenVidu's contract, made from real chunks by the real ffmpeg, and read the way
OpenVidu reads them: `<name>.mp4` non-empty, `.recording.<id>`, `<id>.info`, `<id>.jpg`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from recorder import media, openvidu_files
from recorder.config import AgentConfig
from tests.helpers import fragmented_chunk

RECORDING_JSON = '{"id":"ses_A","name":"meeting","outputMode":"COMPOSED","createdAt":1700000000000}'


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AgentConfig:
    monkeypatch.chdir(tmp_path)  # the container's working directory, where `stop` is
    return AgentConfig.from_env(
        {
            "VIDEO_ID": "ses_A",
            "VIDEO_NAME": "meeting",
            "RECORDING_JSON": RECORDING_JSON,
            "RECORDINGS_PATH": str(tmp_path / "recordings"),
            "HA_CONTROLLER_URL": "http://ctl",
            "HA_AWS_S3_BUCKET": "b",
        }
    )


def test_start_writes_the_entity_and_an_empty_stop_in_the_working_directory(
    config: AgentConfig, tmp_path: Path
) -> None:
    (tmp_path / "stop").write_text("q\n")  # a stale q must not stop the new recording
    openvidu_files.prepare(config)
    assert (config.output_dir / ".recording.ses_A").read_text() == RECORDING_JSON
    assert (tmp_path / "stop").read_text() == ""
    assert not config.output_file.exists()  # not before the capture runs
    assert openvidu_files.announce_capture(config)
    assert config.output_file.stat().st_size > 0  # what OpenVidu waits for
    assert not openvidu_files.announce_capture(config)  # once


def test_the_final_file_replaces_the_placeholder_and_info_says_it_has_video(
    config: AgentConfig, tmp_path: Path
) -> None:
    openvidu_files.prepare(config)
    openvidu_files.announce_capture(config)
    chunks = [fragmented_chunk(tmp_path / f"{i:04d}.mp4", 2) for i in range(3)]
    joining = openvidu_files.work_file(config)
    media.concat([(c, None) for c in chunks], joining)
    final = openvidu_files.place(config, joining)
    report = media.probe_report(final)
    thumb = tmp_path / "thumb.jpg"
    assert media.thumbnail(final, thumb, float(report["format"]["duration"]))
    openvidu_files.seal(config, report, thumb)

    info = json.loads((config.output_dir / "ses_A.info").read_text())  # as RecordingInfoUtils reads it
    video = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert video
    assert video[0]["width"] == 320
    assert 5.5 < float(info["format"]["duration"]) < 6.5
    assert int(info["format"]["size"]) == config.output_file.stat().st_size
    sealed = json.loads((config.output_dir / ".recording.ses_A").read_text())
    assert sealed["status"] == "ready"
    assert sealed["hasAudio"]
    assert sealed["hasVideo"]
    assert sealed["createdAt"] == 1700000000000  # OpenVidu's entity, sealed, not replaced
    width = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=width",
            "-of",
            "csv=p=0",
            str(config.output_dir / "ses_A.jpg"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert width.stdout.strip() == "480"
    assert not joining.exists()


def test_a_whole_chunk_of_known_length_is_not_probed_again(tmp_path: Path) -> None:
    chunk = fragmented_chunk(tmp_path / "0000.mp4", 2)
    assert media.chunk_duration(chunk, 2.0) == 2.0  # the recorder's own figure, no ffprobe
    cut = fragmented_chunk(tmp_path / "0001.mp4", 3)
    cut.write_bytes(cut.read_bytes()[:-2000])
    probed = media.chunk_duration(cut, 3.0)  # cut: trimmed, then probed for what is left
    assert probed is not None
    assert 1.5 < probed < 3.0
    assert media.chunk_duration(chunk, None) == media.probe_duration(chunk)  # unknown: probed


def test_only_the_primary_owes_openvidu_its_files(config: AgentConfig) -> None:
    backup = config.model_copy(update={"recovery": True})
    finalizer = config.model_copy(update={"action": "finalize"})
    assert config.primary
    assert not backup.primary
    assert not finalizer.primary


def test_a_thumbnail_from_another_filesystem_is_sealed_in_place(config: AgentConfig) -> None:
    """The finalizer's scratch is the container's /tmp, the recordings folder a bind mount: a rename
    between them fails (EXDEV), which the first run of the image showed."""
    scratch = Path("/dev/shm")
    if not scratch.is_dir() or scratch.stat().st_dev == config.recordings_path.parent.stat().st_dev:
        pytest.skip("no second filesystem here to put the thumbnail on")
    config.output_dir.mkdir(parents=True)
    thumbnail = scratch / f"ovha-test-{config.video_id}.jpg"
    thumbnail.write_bytes(b"\xff\xd8 a thumbnail")
    report = {"format": {"duration": "1.0", "size": "10"}, "streams": [{"codec_type": "video"}]}
    openvidu_files.seal(config, report, thumbnail)
    assert (config.output_dir / "ses_A.jpg").read_bytes() == b"\xff\xd8 a thumbnail"
    assert not thumbnail.exists()
    assert json.loads((config.output_dir / "ses_A.info").read_text()) == report
