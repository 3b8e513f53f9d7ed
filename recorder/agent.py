"""The recorder agent: what the original bash scripts did (register, heartbeat, record, upload,
join), with the faults fixed.

* `lastChunk` in a heartbeat is the newest chunk durably in S3, never the one being written;
  the first one is told at once, not at the next interval (a backup's or a handover's recorder
  owns the session from it: the sooner, the shorter the overlap).
* A 409 (a newer epoch owns the session), or the takeover's fence marker in S3 (looked for
  before each upload, so it works with the controller unreachable), stops recording at once;
  nothing more is uploaded.
* The controller unreachable never stops a recording: heartbeats retry with backoff (capped
  at the heartbeat interval, jittered), recording and uploads go on.
* ffmpeg dying or hanging inside a live agent is healed here, at once, numbering continuing;
  only the death of the whole recorder needs the controller's takeover.
* SIGTERM or OpenVidu's `q` in `./stop`: finish the chunk, upload, mark stopped, finalize, and
  exit within RECORDER_STOP_BUDGET (25 s) of the stop: OpenVidu kills the container at 30 s.
* The primary (the recorder OpenVidu started) keeps OpenVidu's contract (`openvidu_files`): its
  `<name>.mp4` is in place as soon as the capture runs, and the final file, `.info`, the
  thumbnail and `.recording.<id>` are there when it exits. The controller being unreachable
  never delays that: registration retries in the background.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

import requests

from recorder import openvidu_files
from recorder.capture import Capture, CaptureBroken
from recorder.config import AgentConfig
from recorder.controller import Controller, Fenced, retry_delay
from recorder.finalize import finalize
from recorder.logs import keep_agent_log
from recorder.stack import CaptureStack, StackBroken
from recorder.storage import ChunkStorage, Uploader
from recorder.wire import Manifest

log = logging.getLogger("recorder")
EXIT_FENCED = 3
EXIT_CAPTURE_BROKEN = 4
TICK_S = 0.25
STACK_CHECK_S = 1.0
DRAIN_S = 120.0  # a backup's or a SIGTERMed recorder's upload drain, when no OpenVidu is waiting
REPORT_ATTEMPTS = 5
STOP_DRAIN_SHARE = 0.4  # of the stop budget, at most, for uploading the last chunks before joining


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        controller: Controller,
        storage: ChunkStorage,
        warm_stack: CaptureStack | None = None,
    ) -> None:
        self.config = config
        self.controller = controller
        self.storage = storage
        # The X server, PulseAudio and the browser, for the real source (a standby's, already up,
        # when it fits); the synthetic source needs none.
        if warm_stack is not None and not warm_stack.fits(config):
            warm_stack.stop()
            warm_stack = None
        self.stack = warm_stack or (CaptureStack(config) if config.source == "openvidu" else None)
        self.capture = Capture(
            config, self.stack.display if self.stack else None, self.stack.env if self.stack else None
        )
        self.uploader = Uploader(storage)
        self.stop_requested = threading.Event()
        self.fenced = threading.Event()
        self._done = threading.Event()
        self._beat_now = threading.Event()  # the first chunk is stored: tell the controller now
        self._next_stack_check = 0.0

    # --- lifecycle ----------------------------------------------------------------

    def run(self) -> int:
        c = self.config
        log.info(
            "recorder %s for %s: epoch %s, from chunk %04d, %s source%s",
            c.hostname,
            c.video_id,
            c.epoch,
            c.start_chunk,
            c.source,
            " (recovery)" if c.recovery else "",
        )
        if c.primary:
            openvidu_files.prepare(c)
        if self.stack is not None and self.stack.started:
            log.info("the standby's warm capture stack on %s opens the session's page", self.stack.display)
            self.stack.take_over(c)
        elif self.stack is not None:
            self.stack.start()
        self.capture.start()
        beats = threading.Thread(target=self._heartbeats, name="heartbeat", daemon=True)
        beats.start()
        try:
            outcome = self._record()
            if outcome != 0:
                return outcome
            return self._finish()
        finally:
            self._done.set()
            self._beat_now.set()
            self.capture.kill()
            if self.stack is not None:
                self.stack.stop()

    def _register(self) -> bool:
        """Retries until the controller answers (in the background: the capture never waits for it)."""
        while not self._done.is_set():
            try:
                self.controller.register()
                return True
            except requests.RequestException as error:
                log.warning("controller unreachable for register (%s); retrying", error)
            except RuntimeError as error:
                log.error("%s; retrying", error)
            self._done.wait(2)
        return False

    def _record(self) -> int:
        announced = False
        while not self.stop_requested.is_set():
            if self.fenced.is_set():
                return self._fenced_exit()
            if self._stop_file_says_stop():
                log.info("stop file found: stopping gracefully")
                break
            if self.config.primary and not announced and self.capture.producing():
                openvidu_files.announce_capture(self.config)
                announced = True
            self.uploader.add(self.capture.finished_chunks())
            try:
                self._watch_stack()
                if not self.capture.running:
                    self.uploader.add(self.capture.restart("ffmpeg exited"))
                elif self.capture.stalled():
                    self.uploader.add(self.capture.restart("no chunk closed for two chunk lengths"))
            except (CaptureBroken, StackBroken) as error:
                return self._give_up(error)
            if self.uploader.pending:
                had_stored = bool(self.uploader.stored)
                self.uploader.upload_due(allowed=self._not_fenced)
                if self.uploader.stored and not had_stored:
                    self._beat_now.set()
            time.sleep(TICK_S)
        return 0

    def _finish(self) -> int:
        """Graceful stop: close the chunk, upload, mark stopped, finalize, report, all within the
        stop budget when OpenVidu is waiting (the primary); a backup may take longer. The
        controller's answers never eat the budget: they are waited for only until it runs out."""
        began = time.monotonic() - self._since_stop_was_written()
        budget = self.config.stop_budget_s if self.config.primary else DRAIN_S
        deadline = began + budget
        self.uploader.add(self.capture.stop(timeout=min(20.0, budget / 4)))
        if self.stack is not None:  # nothing more is captured: the browser's CPU goes to the join
            self.stack.stop()
        self.uploader.drain(began + budget * STOP_DRAIN_SHARE, allowed=self._not_fenced)
        if self.fenced.is_set():
            return self._fenced_exit()
        if self.uploader.pending:
            log.error(
                "chunks %s could not be uploaded; they stay in %s",
                sorted(self.uploader.pending),
                self.config.work_dir,
            )
        told = self._in_background(self._tell_stopped)
        if self.stack is not None:
            self._keep_health_report()
        try:
            # Only OpenVidu's 30 s bound the S3 upload: a backup's final file is stored whatever it takes.
            manifest = finalize(
                self.config, self.storage, deadline=deadline - 2 if self.config.primary else None
            )
        except Exception:
            log.exception("finalize failed; the chunks stay in S3 for `python -m recorder finalize`")
            self._tell(lambda: self.controller.set_status("failed"))
            return 1
        told.join(max(0.0, deadline - time.monotonic()))
        self._in_background(lambda: self._report(manifest)).join(max(0.0, deadline - time.monotonic()))
        if manifest.playable:
            self.capture.discard(set(self.uploader.stored))
        return 0 if manifest.playable else 1

    def _tell_stopped(self) -> None:
        self._tell(
            lambda: self.controller.heartbeat(self.uploader.newest_stored, self.restarts(), self.health())
        )
        self._tell(lambda: self.controller.set_status("stopped"))

    @staticmethod
    def _in_background(call: Callable[[], None]) -> threading.Thread:
        thread = threading.Thread(target=call, name="controller-call", daemon=True)
        thread.start()
        return thread

    def _report(self, manifest: Manifest) -> None:
        # A backup retries (the customer's `ready` hangs on it); the primary has no time to spare
        # and OpenVidu's own `ready` to fall back on.
        self.controller.report_final(manifest, 1 if self.config.primary else REPORT_ATTEMPTS)
        if manifest.final:
            self._tell(lambda: self.controller.set_recording_path(f"s3://{manifest.bucket}/{manifest.final}"))
        elif manifest.local:
            self._tell(lambda: self.controller.set_recording_path(manifest.local or ""))

    def _watch_stack(self) -> None:
        """The capture stack's pieces (about once a second), and what freezedetect saw."""
        if self.stack is None:
            return
        for started, wallclock in self.capture.freeze_events():
            self.stack.on_frozen(started, wallclock)
        now = time.monotonic()
        if now >= self._next_stack_check:
            self._next_stack_check = now + STACK_CHECK_S
            self.stack.check()

    def _keep_health_report(self) -> None:
        """The stack's still spans, for the manifest (every recorder's, whoever finalizes)."""
        assert self.stack is not None
        report = {"epoch": self.config.epoch, "at": time.time(), "stillSpans": self.stack.freeze.spans}
        try:
            self.storage.put_health(report | {"health": self.health()})
        except Exception as error:  # S3 down: the manifest lacks these spans, the recording is whole
            log.warning("could not store the capture stack's report: %s", error)

    def restarts(self) -> int:
        """Every restart inside this recorder: ffmpeg's, and the capture stack's pieces and page."""
        if self.stack is None:
            return self.capture.restarts
        return self.capture.restarts + sum(self.stack.health()["restarts"].values())  # type: ignore[union-attr]

    def health(self) -> dict[str, object] | None:
        if self.stack is None:
            return None
        health = self.stack.health()
        health["restarts"] = {**health["restarts"], "ffmpeg": self.capture.restarts}  # type: ignore[dict-item]
        return health

    def _give_up(self, error: CaptureBroken | StackBroken) -> int:
        """The capture cannot run here: keep what was recorded, stop heartbeating, and let the
        controller's takeover start a recorder elsewhere (its next attempt, or FAILED)."""
        log.error("giving up: %s", error)
        self.uploader.drain(time.monotonic() + DRAIN_S, allowed=self._not_fenced)
        return EXIT_CAPTURE_BROKEN

    def _fenced_exit(self) -> int:
        self.capture.kill()
        log.error(
            "fenced: epoch %s no longer owns %s; stopped recording, uploaded nothing more",
            self.config.epoch,
            self.config.video_id,
        )
        return EXIT_FENCED

    # --- helpers ------------------------------------------------------------------

    def _heartbeats(self) -> None:
        if not self.config.recovery and not self._register():
            return
        failures = 0
        while not self._done.is_set():
            try:
                self.controller.heartbeat(self.uploader.newest_stored, self.restarts(), self.health())
                failures = 0
            except Fenced:
                self.fenced.set()
                return
            except requests.RequestException as error:  # the controller down must not stop a recording
                failures += 1
                log.warning("heartbeat failed (%d in a row): %s", failures, error)
            self._beat_now.wait(retry_delay(failures, self.config.heartbeat_interval))
            self._beat_now.clear()

    def _not_fenced(self) -> bool:
        """The fence marker in S3, not the controller: it answers when the controller cannot."""
        if self.storage.fenced():
            self.fenced.set()
            return False
        return True

    def _since_stop_was_written(self) -> float:
        """OpenVidu's 30 s run from its `q`, not from when this loop noticed it."""
        try:
            return (
                max(0.0, time.time() - self.config.stop_file.stat().st_mtime)
                if self._stop_file_says_stop()
                else 0.0
            )
        except OSError:
            return 0.0

    def _stop_file_says_stop(self) -> bool:
        return openvidu_files.stop_written(self.config.stop_file)

    @staticmethod
    def _tell(call: object) -> None:
        try:
            call()  # type: ignore[operator]
        except Fenced:
            log.warning("the controller says another epoch owns the session now")
        except requests.RequestException as error:
            log.warning("could not tell the controller: %s", error)


def record(environ: dict[str, str], warm_stack: CaptureStack | None = None) -> int:
    """Record (or finalize) as the environment says: a primary, a backup, or a standby's session
    (with the standby's warm capture stack, if it has one)."""
    config = AgentConfig.from_env(environ)
    keep_agent_log(config)
    if not config.ha and config.action == "run":
        from recorder import stock

        return stock.run(config)
    storage = ChunkStorage(config)
    if config.action == "finalize":
        manifest = finalize(config, storage)
        Controller(config).report_final(manifest, REPORT_ATTEMPTS)
        return 0 if manifest.final else 1
    agent = Agent(config, Controller(config), storage, warm_stack)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: agent.stop_requested.set())
    return agent.run()
