"""OpenVidu's stock composed recorder, done by the agent: what `composed.sh` does when the image is
given no HA settings, so the image needs no file of OpenVidu's.

The rule it keeps is OpenVidu's contract (`shared/docs/openvidu-contract.md`), by files alone:
`.recording.<id>` at start; `<name>.mp4` written by ffmpeg itself, so it is non-empty within a
second of the capture; `q` in `./stop` ends ffmpeg (the agent hands it to ffmpeg's stdin, as
`ffmpeg <./stop` does); then `<id>.info` (ffprobe's JSON), the 480 px thumbnail and the sealed
`.recording.<id>`, all before the container exits (OpenVidu kills it 30 s after its `q`).
ffmpeg's settings are the stock script's. No controller, no S3, no heartbeat: nothing to fail over.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from recorder import media, openvidu_files
from recorder.capture import input_args
from recorder.config import AgentConfig
from recorder.stack import CaptureStack, StackBroken
from recorder.supervisor import spawn

log = logging.getLogger("recorder.stock")
TICK_S = 0.25
QUIT_WAIT_S = 15.0  # for ffmpeg to write its index after `q`; the rest of OpenVidu's 30 s is the seal's
# composed.sh's encoder settings (the quick-start script uses `ultrafast`: `preset` says which)
ENCODE = ("-c:v", "libx264", "-crf", "28", "-refs", "4", "-qmin", "4", "-pix_fmt", "yuv420p")


def stock_command(config: AgentConfig, display: str | None, preset: str = "veryfast") -> list[str]:
    audio = [] if config.only_video else ["-c:a", "aac"]
    return [
        "ffmpeg",
        *("-hide_banner", "-loglevel", "warning", "-y"),
        *input_args(config, display),
        *audio,
        *ENCODE,
        *("-preset", preset, "-filter:v", f"fps={config.framerate}"),
        str(config.output_file),
    ]


class StockRecording:
    """One recording into `<name>.mp4`, on a display someone else keeps (a stack, or the quick-start
    container's), ended by `q` in the stop file or by `stop_requested`."""

    def __init__(
        self,
        config: AgentConfig,
        display: str | None = None,
        env: dict[str, str] | None = None,
        preset: str = "veryfast",
    ) -> None:
        self.config = config
        self.stop_requested = threading.Event()
        self._command = stock_command(config, display, preset)
        self._env = env
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        openvidu_files.prepare(self.config)
        with (self.config.work_dir / "ffmpeg-stock.log").open("ab") as log_file:
            self._process = spawn(self._command, log_file, self._env, stdin=subprocess.PIPE)
        log.info("recording %s into %s (stock mode)", self.config.video_id, self.config.output_file)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait(self, watch: Callable[[], None] | None = None) -> None:
        """Until `q` is in the stop file, a stop is requested, or ffmpeg ends by itself; `watch`
        (the capture stack's `check`) is called about once a second meanwhile."""
        next_watch = 0.0
        while self.running and not self.stop_requested.is_set():
            if openvidu_files.stop_written(self.config.stop_file):
                log.info("stop file found: stopping")
                return
            if watch is not None and time.monotonic() >= next_watch:
                next_watch = time.monotonic() + 1.0
                watch()
            time.sleep(TICK_S)

    def finish(self) -> int:
        self.quit()
        return self.seal()

    def seal(self) -> int:
        """`.info`, the thumbnail and the sealed entity, once ffmpeg is done: 0 when the file has video."""
        video = self.config.output_file
        try:
            report = media.probe_report(video)
        except (subprocess.SubprocessError, OSError, ValueError) as error:
            log.error("%s cannot be read (%s): OpenVidu will call the recording failed", video, error)
            return 1
        duration = float(report.get("format", {}).get("duration") or 0)
        thumbnail = self.config.output_dir / f".{self.config.video_id}.jpg.part"
        openvidu_files.seal(
            self.config, report, thumbnail if media.thumbnail(video, thumbnail, duration) else None
        )
        has_video = any(s.get("codec_type") == "video" for s in report.get("streams", []))
        return 0 if has_video else 1

    def quit(self) -> None:
        """`q` to ffmpeg, as `<./stop` gives it; killed if it ignores it."""
        process = self._process
        if process is None:
            return
        if process.poll() is None and process.stdin is not None:
            try:
                process.stdin.write(b"q")
                process.stdin.close()
            except OSError:
                pass
        try:
            process.wait(timeout=QUIT_WAIT_S)
        except subprocess.TimeoutExpired:
            log.error("ffmpeg ignored its `q` for %.0f s: killed", QUIT_WAIT_S)
            process.kill()
            process.wait(timeout=5)


def run(config: AgentConfig) -> int:
    """The whole stock container: the capture stack (for the real source), one recording, the seal."""
    log.info(
        "no HA settings (HA_CONTROLLER_URL or _HOST, and HA_AWS_S3_BUCKET, in the environment or %s): "
        "recording as OpenVidu's stock recorder",
        config.recordings_path / ".env",
    )
    stack = CaptureStack(config) if config.source == "openvidu" else None
    if stack is not None:
        stack.start()
    recording = StockRecording(config, stack.display if stack else None, stack.env if stack else None)
    for signum in (signal.SIGTERM, signal.SIGINT):  # `docker stop`: the file is closed and sealed
        signal.signal(signum, lambda *_: recording.stop_requested.set())
    try:
        recording.start()
        try:
            recording.wait(stack.check if stack else None)
        except StackBroken as error:
            log.error("the capture stack cannot go on (%s): closing the file", error)
        recording.quit()
        if stack is not None:
            stack.stop()  # nothing more is captured: the browser's CPU goes to the seal
        return recording.seal()
    finally:
        if stack is not None:
            stack.stop()
