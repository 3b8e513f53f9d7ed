"""ffmpeg in chunks: the segment muxer, a keyframe forced at every chunk boundary, fragmented MP4.

Each ffmpeg run writes a live segment list (`run-N.csv`): a line appears when a chunk is
closed, so the agent knows exactly which chunks are complete. Beside it, `run-N.start` says
when the run began and at which chunk (the segment list's times are the run's own), so what
is on disk alone places every chunk: the watcher's salvage reads a dead recorder's disk.
Chunks are fragmented MP4 (0.5 s fragments): if ffmpeg dies mid-chunk, the partial chunk is
still playable up to its last fragment and is kept, so a restart loses well under a second.
"""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from recorder.config import AgentConfig
from recorder.media import keep_whole_fragments
from recorder.supervisor import backoff, spawn

log = logging.getLogger("recorder.capture")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CHUNK_FILE = re.compile(r"^(\d+)\.mp4$")
FREEZE_NOISE = "-60dB"  # what freezedetect counts as "no change"
FREEZE_EVENT = re.compile(r"lavfi\.freezedetect\.freeze_(start|end): (\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Chunk:
    index: int
    path: Path
    wallclock_start: float
    duration: float


def write_run_start(segment_list: Path, started_at: float, first_index: int) -> None:
    """`run-N.start` beside `run-N.csv`: the run's wall-clock start and its first chunk number."""
    marker = segment_list.with_suffix(".start")
    marker.write_text(json.dumps({"startedAt": round(started_at, 3), "firstIndex": first_index}))


def input_args(config: AgentConfig, display: str | None = None) -> list[str]:
    """Where the picture and sound come from: a synthetic source, or OpenVidu's X display and pulse
    (the capture stack's display, and its PulseAudio's default source: the browser's sound)."""
    width, height = config.resolution.split("x")
    if config.source == "synthetic":
        args = ["-re", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={config.framerate}"]
        if not config.only_video:
            args += ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
        return args
    # Each live input gets its own queue, and pulse small fragments: ffmpeg reads its inputs in turn,
    # and a pulse read blocking on a big fragment makes x11grab miss frames (a picture that stutters,
    # still for a second in every two: measured with freezedetect, gone with these).
    args = [
        "-thread_queue_size",
        "512",
        "-f",
        "x11grab",
        "-draw_mouse",
        "0",
        "-framerate",
        str(config.framerate),
        "-video_size",
        config.resolution,
        "-i",
        display or config.display,
    ]
    if not config.only_video:
        args += ["-thread_queue_size", "512", "-f", "pulse", "-fragment_size", "1920", "-i", "default"]
    return args


def video_filter(config: AgentConfig) -> list[str]:
    """`freezedetect` on what is captured (a still or black picture for CAPTURE_FROZEN_SECONDS is
    logged, and the capture stack acts on it; frames pass unchanged), and a burnt-in wall clock
    on the synthetic source, so a viewer can see where a gap is."""
    filters = []
    if config.source == "synthetic" and FONT.exists():
        clock = r"%{localtime\:%H\\\:%M\\\:%S}"
        filters.append(
            f"drawtext=fontfile={FONT}:text='{clock} e{config.epoch}':x=8:y=8:fontsize=20:"
            "fontcolor=white:box=1:boxcolor=black@0.6"
        )
    filters.append(f"freezedetect=n={FREEZE_NOISE}:d={config.frozen_seconds:g}")
    return ["-vf", ",".join(filters)]


def ffmpeg_command(
    config: AgentConfig, start_number: int, segment_list: Path, display: str | None = None
) -> list[str]:
    chunk = f"{config.chunk_time_size:g}"
    audio = [] if config.only_video else ["-c:a", "aac", "-b:a", "96k"]
    return [
        "ffmpeg",
        "-hide_banner",
        "-loglevel",
        "info",  # freezedetect reports at info level; -nostats keeps the log to events
        "-nostats",
        "-nostdin",
        "-y",
        *input_args(config, display),
        *video_filter(config),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-tune",
        "zerolatency",
        "-pix_fmt",
        "yuv420p",
        # A keyframe exactly at every chunk boundary: chunks are exactly CHUNK_TIME_SIZE long
        # (the original's followed the encoder's keyframe interval instead).
        "-force_key_frames",
        f"expr:gte(t,n_forced*{chunk})",
        *audio,
        "-f",
        "segment",
        "-segment_time",
        chunk,
        "-segment_start_number",
        str(start_number),
        "-reset_timestamps",
        "1",
        "-segment_format",
        "mp4",
        "-segment_format_options",
        # flush_packets: each fragment reaches the file as it is made. Without it a quiet page's few
        # KB/s sit in ffmpeg's 32 KB write buffer for seconds, and a recorder killed mid-chunk
        # leaves nothing of that chunk on disk to salvage (measured: 28 bytes after 6 s).
        "movflags=+frag_keyframe+empty_moov+default_base_moof:frag_duration=500000:flush_packets=1",
        "-segment_list",
        str(segment_list),
        "-segment_list_type",
        "csv",
        "-segment_list_flags",
        "+live",
        str(segment_list.parent / "%04d.mp4"),
    ]


class CaptureBroken(RuntimeError):
    """ffmpeg keeps failing before it closes a single chunk: its source is broken, not the run."""


class Capture:
    """One ffmpeg at a time; restarted in place (numbering continues) when it dies or hangs.

    A run that closes no chunk counts as a failed start: the next one waits (0.5 s, doubling,
    at most 8 s), and after CAPTURE_MAX_FAILED_STARTS in a row the capture gives up, so a
    recorder whose display or audio is gone exits and the controller's takeover decides."""

    def __init__(
        self, config: AgentConfig, display: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        """`display` and `env` are the capture stack's (its X display, its PulseAudio)."""
        self.config = config
        self.display = display
        self.env = env
        self._log_offset = 0
        self.folder = config.work_dir
        self.folder.mkdir(parents=True, exist_ok=True)
        self.runs = 0
        self.restarts = 0
        self.failed_starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._run_started = 0.0
        self._list: Path | None = None
        self._seen: dict[int, Chunk] = {}
        self._next_index = config.start_chunk
        self._last_progress = time.monotonic()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        self.runs += 1
        self._list = self.folder / f"run-{self.runs}.csv"
        command = ffmpeg_command(self.config, self._next_index, self._list, self.display)
        self._run_started = time.time()
        write_run_start(self._list, self._run_started, self._next_index)
        self._last_progress = time.monotonic()
        self._log_offset = 0
        log_file = (self.folder / f"ffmpeg-{self.runs}.log").open("ab")
        self._process = spawn(command, log_file, self.env)  # dies with the agent, as the stack does
        log.info(
            "ffmpeg run %s started at chunk %04d (pid %s)", self.runs, self._next_index, self._process.pid
        )

    def finished_chunks(self) -> list[Chunk]:
        """Chunks ffmpeg has closed since the last call (read from the live segment list)."""
        if self._list is None or not self._list.exists():
            return []
        fresh = []
        for line in self._list.read_text().splitlines():
            parts = line.split(",")
            if len(parts) < 3 or not CHUNK_FILE.match(parts[0]):
                continue
            index = int(CHUNK_FILE.match(parts[0]).group(1))  # type: ignore[union-attr]
            if index in self._seen:
                continue
            start, end = float(parts[1]), float(parts[2])
            chunk = Chunk(index, self.folder / parts[0], self._run_started + start, end - start)
            self._seen[index] = chunk
            self._next_index = max(self._next_index, index + 1)
            self._last_progress = time.monotonic()
            fresh.append(chunk)
        return fresh

    def freeze_events(self) -> list[tuple[bool, float]]:
        """freezedetect's reports since the last call: (True: the picture went still, False: it moves
        again) with the wall-clock time it refers to."""
        path = self.folder / f"ffmpeg-{self.runs}.log"
        try:
            with path.open("rb") as ffmpeg_log:
                ffmpeg_log.seek(self._log_offset)
                fresh = ffmpeg_log.read()
        except OSError:
            return []
        complete = fresh.rfind(b"\n") + 1  # a line still being written waits for the next call
        self._log_offset += complete
        return [
            (kind == "start", self._run_started + float(seconds))
            for kind, seconds in FREEZE_EVENT.findall(fresh[:complete].decode(errors="replace"))
        ]

    def producing(self) -> bool:
        """ffmpeg has written media: a chunk was closed, or the one being written is not empty."""
        if self._seen:
            return True
        current = self.folder / f"{self._next_index:04d}.mp4"
        try:
            return current.stat().st_size > 0
        except OSError:
            return False

    def discard(self, indices: set[int]) -> None:
        """The final file exists: the local copies of these (stored) chunks are no longer needed."""
        for index in indices:
            (self.folder / f"{index:04d}.mp4").unlink(missing_ok=True)

    def stalled(self) -> bool:
        """No chunk closed for two chunk lengths and a bit: ffmpeg (or its source) hangs."""
        return self.running and time.monotonic() - self._last_progress > 2 * self.config.chunk_time_size + 5

    def salvage(self) -> list[Chunk]:
        """After ffmpeg died: the partial chunk it was writing, if it is playable, as a finished chunk."""
        partial = self.folder / f"{self._next_index:04d}.mp4"
        if not partial.exists():
            return []
        duration = keep_whole_fragments(partial)
        if duration is None:
            log.warning("chunk %s was cut before its first fragment; it is left out", partial.name)
            partial.unlink(missing_ok=True)
            return []
        start = self._run_started + self._chunks_in_run() * self.config.chunk_time_size
        chunk = Chunk(self._next_index, partial, start, duration)
        self._seen[chunk.index] = chunk
        self._next_index += 1
        return [chunk]

    def _chunks_in_run(self) -> int:
        return sum(1 for c in self._seen.values() if c.wallclock_start >= self._run_started)

    def restart(self, reason: str) -> list[Chunk]:
        """Kills what is left of ffmpeg, keeps its partial chunk if playable, starts again after it."""
        self.kill()
        closed = self.finished_chunks() + self.salvage()
        self.failed_starts = 0 if self._chunks_in_run() else self.failed_starts + 1  # salvage counts too
        if self.failed_starts >= self.config.max_failed_starts:
            raise CaptureBroken(
                f"ffmpeg ran {self.failed_starts} times in a row without closing a chunk ({reason}); "
                f"see {self.folder / f'ffmpeg-{self.runs}.log'}"
            )
        self.restarts += 1
        log.warning("restarting capture (%s) at chunk %04d", reason, self._next_index)
        if self.failed_starts:
            time.sleep(backoff(self.failed_starts))
        self.start()
        return closed

    def stop(self, timeout: float = 20) -> list[Chunk]:
        """Graceful: ffmpeg finishes the current chunk and closes it; returns the chunks closed."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)
            try:
                self._process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.finished_chunks() + (self.salvage() if self._process is not None else [])

    def kill(self) -> None:
        """SIGKILL, which also ends a SIGSTOPped (hung) ffmpeg."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)
