"""OpenVidu's stop, timed: from the `q` in `./stop` to the recorder's exit, for a 10-minute and a
2-hour recording (OpenVidu kills the container at 30 s, whatever the length).

How the long recordings are produced: one real 10 s chunk at 1280x720, 25 fps, H.264 capped at
1.5 Mbit/s plus AAC (what a composed recording of a meeting weighs), encoded by ffmpeg with the
recorder's fragmented-MP4 settings, is copied N times onto the recorder's disk and into S3 with
the metadata the recorder writes: what N chunks of a real run leave behind when `q` arrives.
The real recorder is then started by the OpenVidu emulator on top of them (the image's ENV
carries START_CHUNK=N, so it continues the numbering), records a few live chunks, and is
stopped by OpenVidu's `q`. Printed: the time to `<name>.mp4`, `q` to exit, OpenVidu's
conclusion, the final file's duration and size, whether its S3 copy fit in the budget, and if
not, how long after the exit the finalizer task (launched by the controller) stored it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import boto3

from bench.harness import local_stack
from local.openvidu import OpenViduEmulator
from recorder.layout import chunk_key, manifest_key
from recorder.settings_file import parse_env_file

CHUNK_S = 10
LENGTHS = {"10min": 60, "2h": 720}


def real_chunk(path: Path) -> Path:
    subprocess.run(
        [
            *("ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(CHUNK_S)),
            *("-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p"),
            *("-b:v", "1500k", "-maxrate", "1500k", "-bufsize", "3000k", "-c:a", "aac", "-b:a", "96k"),
            *("-force_key_frames", f"expr:gte(t,n_forced*{CHUNK_S})", "-movflags"),
            *("+frag_keyframe+empty_moov+default_base_moof", "-frag_duration", "500000", str(path)),
        ],
        check=True,
        timeout=300,
    )
    return path


def one(label: str, chunks: int, scratch: Path, url: str, recordings: Path, source: Path) -> dict:
    settings = parse_env_file((recordings / ".env").read_text())
    s3 = boto3.client(
        "s3",
        endpoint_url=settings["HA_AWS_S3_SERVICE_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id=settings["HA_AWS_ACCESS_KEY"],
        aws_secret_access_key=settings["HA_AWS_SECRET_KEY"],
    )
    recording_id = f"bench_{label}_{int(time.time())}"
    own = Path(settings["CHUNK_FOLDER"]) / recording_id / "e1"
    own.mkdir(parents=True)
    began = time.time() - chunks * CHUNK_S
    for index in range(chunks):
        target = own / f"{index:04d}.mp4"
        shutil.copyfile(source, target)
        s3.upload_file(
            str(target),
            settings["HA_AWS_S3_BUCKET"],
            chunk_key(recording_id, index, 1),
            ExtraArgs={
                "Metadata": {
                    "epoch": "1",
                    "wallclock-start": f"{began + index * CHUNK_S:.3f}",
                    "duration": f"{CHUNK_S:.3f}",
                    "recorder": "bench",
                }
            },
        )
    openvidu = OpenViduEmulator(
        recordings_path=recordings,
        webhook_url=f"{url}/openvidu/webhook",
        containers_dir=scratch / "containers",
    )
    openvidu.image_env |= {"START_CHUNK": str(chunks)}  # the seeded chunks are this run's first ones
    recording = openvidu.start(name="meeting", session_id=recording_id, resolution="1280x720", frame_rate=25)
    time.sleep(2 * CHUNK_S + 3)
    openvidu.stop(recording)
    exited = time.monotonic()
    bucket = settings["HA_AWS_S3_BUCKET"]

    def manifest() -> dict:
        return json.loads(s3.get_object(Bucket=bucket, Key=manifest_key(recording_id))["Body"].read())

    first = manifest()
    stored_after = None
    if first["s3Pending"]:
        deadline = exited + 900
        while time.monotonic() < deadline and stored_after is None:
            time.sleep(2)
            if manifest()["final"]:
                stored_after = round(time.monotonic() - exited, 1)
    final_key = f"{recording_id}/meeting.mp4"
    s3_bytes = (
        s3.head_object(Bucket=bucket, Key=final_key)["ContentLength"]
        if (not first["s3Pending"] or stored_after is not None)
        else None
    )
    return {
        "bench": "openvidu_stop",
        "recording": label,
        "seeded_chunks": chunks,
        "time_to_file_s": recording.timings.get("file_s"),
        "q_to_exit_s": recording.timings.get("stop_to_exit_s"),
        "openvidu_status": recording.status,
        "final_duration_s": recording.duration,
        "final_size_mb": round(recording.size / 1e6, 1),
        "s3_copy_within_budget": first["final"] is not None,
        "s3_copy_by_finalizer_after_s": stored_after,
        "s3_final_size_mb": round(s3_bytes / 1e6, 1) if s3_bytes else None,
    }


def run() -> None:
    with tempfile.TemporaryDirectory(prefix="ovha-stop-bench-") as tmp:
        scratch = Path(tmp)
        recordings = scratch / "recordings"
        source = real_chunk(scratch / "source.mp4")
        with local_stack({"RECORDINGS_PATH": str(recordings), "HA_TIMING": "default"}) as url:
            for label, chunks in LENGTHS.items():
                print(json.dumps(one(label, chunks, scratch, url, recordings, source)), flush=True)


if __name__ == "__main__":
    import local  # noqa: F401

    run()
