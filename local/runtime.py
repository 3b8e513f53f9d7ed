"""The local stack: embedded moto, the template's resources, the real handlers behind an HTTP gateway.

`make up` runs `python -m local up`, which is `LocalStack(...).start()` and a wait.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hacore.settings import TIMING_PROFILES
from local import ROOT
from local.apigw import LocalContext
from local.environment import function_environment
from local.event_sources import EventBus, SqsPoller
from local.gateway import Router, make_server
from local.media_node import write_env_file
from local.provision import create_buckets, create_queues, create_tables
from local.template import Template, pattern_matches
from recorder.ports import free_port

log = logging.getLogger("local")

ORIGINAL_USERNAME = "recorder"
ORIGINAL_PASSWORD = "rec0rd3r_2024!"  # noqa: S105 - the original product's local default, printed as such

LOCAL_DEFAULTS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
    "POWERTOOLS_METRICS_NAMESPACE": "OpenViduHA",
}
# What differs from AWS on this machine: backups are local processes, metrics stay quiet.
LOCAL_OVERRIDES = {
    "APP_FAILOVER_LAUNCHER": "process",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
LOCAL_PARAMETERS = {"Profile": "dev"}
PR_SET_PDEATHSIG = 1
TIMING_VARIABLES = frozenset(TIMING_PROFILES["default"])
STOP_WAIT_S = 2.0  # at a stop, running invocations are waited for this long
# `APP_FAILOVER_LAUNCHER=docker`: backups are containers of the image `make image` builds, run as
# OpenVidu runs its recorders (host network; the recordings folder, set at start, at /recordings)
DOCKER_DEFAULTS = {
    "APP_DOCKER_NETWORK": "host",
    "APP_DOCKER_OPENVIDU_IMAGE": "openvidu-ha-recorder",
    "APP_DOCKER_IMAGE_TAG": "latest",
}
TASK_EVENTS_EVERY_S = 0.2  # how often exited backup processes are looked for (ECS: seconds)


def wait_until_serving(url: str, process: subprocess.Popen[Any] | None = None, seconds: float = 60) -> None:
    """Waits for a stack started as `python -m local up` to answer its health check. One that
    exits, or never answers, is killed (never left running behind a failed start) and named."""
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the local stack at {url} exited early (code {process.returncode})")
        try:  # the first request also imports the handler: allow it time on a busy machine
            if requests.get(f"{url}/actuator/health", timeout=5).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    if process is not None:
        process.kill()
        process.wait(timeout=10)
    raise RuntimeError(f"the local stack at {url} did not answer within {seconds:.0f} s")


def die_with_parent() -> None:
    """Run in a child before exec: the kernel sends it SIGTERM when this process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 8080
    environ: MutableMapping[str, str] = field(default_factory=lambda: os.environ)
    template: Template = field(default_factory=Template.load)
    names: dict[str, str] = field(default_factory=dict)
    default_credentials: bool = False
    schedules: dict[str, float] = field(default_factory=dict)
    pollers: list[SqsPoller | EventBus] = field(default_factory=list)
    env_file: Path | None = None
    _moto: Any = None
    _server: Any = None
    _router: Any = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _invocations: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return self.environ["AWS_ENDPOINT_URL"]

    def start(self, announce: Callable[[LocalStack], None] | None = None) -> LocalStack:
        """Everything first, the gateway last: once it answers, the stack is whole (and announced)."""
        for key, value in {**LOCAL_DEFAULTS, **LOCAL_OVERRIDES}.items():
            self.environ.setdefault(key, value)
        if not self.environ.get("HA_CONTROLLER_USERNAME") and not self.environ.get("HA_CONTROLLER_PASSWORD"):
            self.environ["HA_CONTROLLER_USERNAME"] = ORIGINAL_USERNAME
            self.environ["HA_CONTROLLER_PASSWORD"] = ORIGINAL_PASSWORD
            self.default_credentials = True
        if self.environ.get("APP_FAILOVER_LAUNCHER") == "docker":  # backups as OpenVidu runs recorders
            for key, value in DOCKER_DEFAULTS.items():
                self.environ.setdefault(key, value)
        if not self.environ.get("AWS_ENDPOINT_URL"):
            self._start_moto()
        self._router = Router(self.template)
        self._server = make_server(self._router, self.host, self.port)
        self.port = self._server.server_address[1]
        self.environ.setdefault("HA_CONTROLLER_URL", self.url)  # where backups heartbeat
        # This stack's backups, apart from any other stack's: their sessions live in this moto only.
        self.environ.setdefault("APP_PROCESS_STATE_DIR", f".local-data/stack-{os.getpid()}/backups")
        self._provision()
        self.env_file = write_env_file(self.environ, self.host, self.port)
        # This stack's backups run on the same media node as its primaries: they read the same `.env`
        # (the synthetic source, here), not the recorder image's defaults (a real browser).
        self.environ.setdefault("RECORDINGS_PATH", str(self.env_file.parent.resolve()))
        self.environ.setdefault("APP_DOCKER_RECORDINGS_PATH", self.environ["RECORDINGS_PATH"])
        self._start_schedules()
        self._start_queue_pollers()
        self._start_task_events()
        self._start_event_bus()
        if announce is not None:
            announce(self)
        threading.Thread(target=self._server.serve_forever, name="gateway", daemon=True).start()
        return self

    def _start_queue_pollers(self) -> None:
        """Lambda's SQS event source mappings: each queue-triggered function gets a poller."""
        import boto3

        sqs = boto3.client("sqs", region_name=self.environ["AWS_REGION"], endpoint_url=self.aws_endpoint)
        # One poller by default: moto's ReceiveMessage has no lock, so two pollers at once can be
        # handed the same message (seen: 14% duplicate deliveries with four). Real SQS with Lambda's
        # concurrent batches does not do that within the visibility timeout.
        concurrency = int(self.environ.get("LOCAL_SQS_POLLERS", "1"))
        for function, queue, batch in self.template.queue_sources():
            for n in range(concurrency):
                poller = SqsPoller(
                    sqs,
                    self.names[queue],
                    self._router.handler(function),
                    function,
                    batch,
                    self.template.timeout(function) * 1000,
                )
                self.pollers.append(poller)
                threading.Thread(target=poller.run, name=f"sqs-{function}-{n}", daemon=True).start()

    def _start_schedules(self) -> None:
        """EventBridge's part: each scheduled function is invoked every period (DETECTOR_SCHEDULE_SECONDS
        overrides the template's rate), each run in its own thread, as overlapping Lambda runs would."""
        for function, period in self.template.schedules():
            every = float(self.environ.get("DETECTOR_SCHEDULE_SECONDS") or period)
            self.schedules[function] = every
            threading.Thread(
                target=self._every, args=(function, every), name=f"schedule-{function}", daemon=True
            ).start()

    def _start_task_events(self) -> None:
        """EventBridge's ECS rules: a backup that stops (a process that exits, a container's `die`) is
        sent, as ECS's "Task State Change" event, to the functions whose rule matches it (the
        detector takes its session over at once)."""
        rules = self.template.event_rules()
        launcher = self._launcher()
        if not rules or launcher is None:
            return
        routes = [(function, pattern, self._router.handler(function)) for function, pattern in rules]

        def watch() -> None:
            while not self._stopping.wait(TASK_EVENTS_EVERY_S):
                try:
                    events = launcher.stopped_events()  # type: ignore[attr-defined]
                except Exception:
                    log.exception("reading the stopped backups failed")
                    continue
                for event in events:
                    for function, pattern, handler in routes:
                        if pattern_matches(pattern, event):
                            timeout_ms = self.template.timeout(function) * 1000
                            self._run_invocation(handler, function, timeout_ms, event)

        threading.Thread(target=watch, name="task-events", daemon=True).start()

    def _start_event_bus(self) -> None:
        """The template's rules on AWS's own events (EC2's, Auto Scaling's) on moto's EventBridge:
        an event put there reaches its function (`local.event_sources.EventBus`). ECS's task events
        come from this machine's launcher instead (`_start_task_events`)."""
        import boto3

        rules = [(f, p) for f, p in self.template.event_rules() if "aws.ecs" not in (p.get("source") or [])]
        if not rules:
            return
        region = self.environ["AWS_REGION"]
        bus = EventBus(
            boto3.client("events", region_name=region, endpoint_url=self.aws_endpoint),
            boto3.client("sqs", region_name=region, endpoint_url=self.aws_endpoint),
            rules,
            lambda function, event: self._run_invocation(
                self._router.handler(function), function, self.template.timeout(function) * 1000, event
            ),
        )
        self.pollers.append(bus)
        threading.Thread(target=bus.run, name="event-bus", daemon=True).start()

    def _launcher(self) -> Any:
        """The launcher of this stack's backups, when it is one of this machine's (not ECS)."""
        from hacore.launchers import make_launcher
        from hacore.settings import Settings
        from hacore.wiring import launcher_env

        settings = Settings.from_env(self.environ)
        if settings.launcher not in ("process", "docker"):
            return None
        return make_launcher(settings, base_env=launcher_env(settings))

    def _every(self, function: str, period: float) -> None:
        handler = self._router.handler(function)
        timeout_ms = self.template.timeout(function) * 1000
        while True:
            self._run_invocation(handler, function, timeout_ms)
            if self._stopping.wait(period):
                return

    def _run_invocation(
        self, handler: Any, function: str, timeout_ms: int, event: dict[str, Any] | None = None
    ) -> None:
        """Each invocation in its own thread, as concurrent Lambda runs; kept, so that stopping the
        stack waits for them (a detector run still refilling the standby pool would otherwise start
        a standby after the stack stopped its backups)."""
        thread = threading.Thread(
            target=self._invoke, args=(handler, function, timeout_ms, event), daemon=True
        )
        self._invocations = [t for t in self._invocations if t.is_alive()] + [thread]
        thread.start()

    def _invoke(
        self, handler: Any, function: str, timeout_ms: int, event: dict[str, Any] | None = None
    ) -> None:
        event = event or {
            "version": "0",
            "source": "aws.events",
            "detail-type": "Scheduled Event",
            "detail": {},
        }
        try:
            handler(event, LocalContext(function, timeout_ms=timeout_ms, cancelled=self._stopping))
        except Exception:
            log.exception("scheduled run of %s failed", function)

    def stop(self) -> None:
        self._stopping.set()
        for poller in self.pollers:
            poller.stopping.set()
        self._stop_backups()  # at once: whoever stops the stack may not wait long
        deadline = time.monotonic() + STOP_WAIT_S
        for invocation in list(self._invocations):
            invocation.join(max(0.0, deadline - time.monotonic()))
        self._stop_backups()  # again: a standby a detector run started meanwhile
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._moto is not None:
            self._moto.terminate()
            self._moto.wait(timeout=10)

    def _stop_backups(self) -> None:
        """The backups this stack started (processes or containers) end with it: the sessions they
        record for, and the controller they heartbeat, are gone. A graceful stop first, as ECS does."""
        launcher = self._launcher()
        if launcher is None:
            return
        running = launcher.list()
        graceful = [
            threading.Thread(target=launcher.stop, args=(backup.ref,), daemon=True) for backup in running
        ]
        for thread in graceful:
            thread.start()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and launcher.list():
            time.sleep(0.1)
        for backup in launcher.list():
            launcher.stop(backup.ref, force=True)
        if running:
            log.warning("stopped %d backup recorder(s) of this stack", len(running))

    def _start_moto(self) -> None:
        """moto's server in a process of its own: the gateway and the handlers keep this one's GIL."""
        port = int(self.environ.get("MOTO_PORT") or free_port())
        self._moto = subprocess.Popen(
            [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if self._moto.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on port {port}") from None
                time.sleep(0.1)
        self.environ["AWS_ENDPOINT_URL"] = endpoint

    def _provision(self) -> None:
        import boto3

        region = self.environ["AWS_REGION"]
        dynamodb = boto3.client("dynamodb", region_name=region, endpoint_url=self.aws_endpoint)
        s3 = boto3.client("s3", region_name=region, endpoint_url=self.aws_endpoint)
        self.names.update(create_tables(dynamodb, self.template))
        self.names.update(create_buckets(s3, self.template))
        sqs = boto3.client("sqs", region_name=region, endpoint_url=self.aws_endpoint)
        self.names.update(create_queues(sqs, self.template))
        for key, value in function_environment(self.template, self.names, LOCAL_PARAMETERS).items():
            if key in TIMING_VARIABLES:
                continue  # the template's timing parameters are AWS defaults: locally HA_TIMING decides
            self.environ.setdefault(key, value)

    def webhook_senders(self) -> str:
        """Who may post OpenVidu's webhooks here: in AWS only the token's holder, locally anyone
        unless a token is set (the emulated OpenVidu sends none)."""
        if self.environ.get("OPENVIDU_WEBHOOK_INBOUND_TOKEN"):
            return "only with the token in OPENVIDU_WEBHOOK_INBOUND_TOKEN (X-Webhook-Token or Bearer)"
        return (
            "any sender may post to /openvidu/webhook (local default; in AWS the stack requires a token)\n"
            "                 require one: OPENVIDU_WEBHOOK_INBOUND_TOKEN=... make up"
        )

    def backups_as(self) -> str:
        if self.environ.get("APP_FAILOVER_LAUNCHER") == "docker":
            image = f"{self.environ['APP_DOCKER_OPENVIDU_IMAGE']}:{self.environ['APP_DOCKER_IMAGE_TAG']}"
            return f"Docker containers of {image}"
        return "local processes"

    def banner(self) -> str:
        user = self.environ["HA_CONTROLLER_USERNAME"]
        if self.default_credentials:
            credentials = (
                f"{user} / {ORIGINAL_PASSWORD}  (the original product's defaults, for this machine only)\n"
                "                 change them: HA_CONTROLLER_USERNAME=... HA_CONTROLLER_PASSWORD=... make up"
            )
        else:
            credentials = f"{user} / (the password in HA_CONTROLLER_PASSWORD)"
        tables = ", ".join(n.rsplit("/", 1)[-1] for n in self.names.values())
        schedule = ", ".join(f"{fn} every {period:g}s" for fn, period in self.schedules.items()) or "none"
        return (
            "OpenVidu HA recorder controller, local stack\n"
            f"  API          {self.url}   (Swagger UI: {self.url}/swagger-ui.html)\n"
            f"  AWS          {self.aws_endpoint}   {'embedded moto' if self._moto else 'AWS_ENDPOINT_URL'}: "
            f"{tables}\n"
            f"  Schedules    {schedule}; backups as {self.backups_as()}\n"
            f"  Queues       {', '.join(f'{fn} polls {q}' for fn, q, _ in self.template.queue_sources())}\n"
            f"  Credentials  {credentials}\n"
            f"  Webhooks     {self.webhook_senders()}\n"
            f"  Media node   the recorders' settings: {self.env_file}\n"
            "  OpenVidu     .venv/bin/python -m local openvidu record --seconds 20  (emulated recording)\n"
            f"  Try          curl -u {user}:<password> {self.url}/api/sessions/health\n"
            "  Stop         Ctrl-C"
        )
