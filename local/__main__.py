"""`python -m local up | validate | drill | dlq | openvidu | image | engine`: the local stack, the
configuration check, the failover drill, the webhook dead-letter queue, an emulated OpenVidu recording,
the recorder image, and the Docker engine."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path

import local  # noqa: F401 - puts functions/ on the path


def up(_: argparse.Namespace) -> int:
    from local.runtime import LocalStack

    stack = LocalStack(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8080")))
    stack.start(announce=lambda ready: print(ready.banner(), flush=True))
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopping.wait()
    stack.stop()
    return 0


def validate(_: argparse.Namespace) -> int:
    from hacore.config_check import check, report_lines

    settings, problems, notes = check(os.environ)
    print("\n".join(report_lines(settings, problems, notes)))
    return 1 if problems else 0


def config_reference(_: argparse.Namespace) -> int:
    from local.config_reference import write

    print(f"wrote {write()}")
    return 0


def drill(arguments: argparse.Namespace) -> int:
    from local.drill.runner import run_drill

    results = run_drill(
        arguments.runs,
        arguments.timing,
        arguments.mode,
        arguments.seed,
        arguments.source,
        arguments.runtime,
        Path(arguments.keep).resolve() if arguments.keep else None,
        arguments.hold,
    )
    return 0 if all(r.get("ok") for r in results) else 1


def openvidu(arguments: argparse.Namespace) -> int:
    """One recording as OpenVidu 2.x makes it, against a running stack (`make up`)."""
    import json
    from pathlib import Path

    from local.media_node import recordings_path
    from local.openvidu import OpenViduEmulator, parse_headers

    folder = recordings_path(os.environ)
    if not (folder / ".env").exists():
        print(
            f"no {folder / '.env'}: start the stack first (make up), or set RECORDINGS_PATH", file=sys.stderr
        )
        return 2
    from local.containers import docker_runtime

    emulator = OpenViduEmulator(
        recordings_path=folder,
        webhook_url=f"{arguments.url.rstrip('/')}/openvidu/webhook",
        containers_dir=Path(arguments.containers).resolve(),
        webhook_headers=parse_headers(os.environ.get("OPENVIDU_WEBHOOK_HEADERS")),
        on_event=lambda event: print(json.dumps(event), flush=True),
        runtime=docker_runtime(folder, arguments.image) if arguments.runtime == "docker" else None,
    )
    session_id = None
    if arguments.mode == "quick-start":  # the session's container first, then its recordings in turn
        session_id = f"ses_{os.urandom(5).hex()}"
        emulator.open_session(session_id, resolution=arguments.resolution)
    statuses = []
    try:
        for _ in range(arguments.count):
            recording = emulator.record(
                arguments.seconds,
                arguments.kill_at,
                name=arguments.name,
                resolution=arguments.resolution,
                session_id=session_id,
            )
            statuses.append(recording.status)
            print(
                json.dumps(
                    {
                        "openvidu_status": recording.status,
                        "id": recording.id,
                        "runtime": arguments.runtime,
                        "mode": arguments.mode,
                        "folder": str(emulator.output_dir(recording)),
                        "container": recording.container.name if recording.container else None,
                        **recording.timings,
                    }
                ),
                flush=True,
            )
    finally:
        if session_id is not None:
            emulator.close_session(session_id)
    return 0 if statuses and all(status == "ready" for status in statuses) else 1


def image(arguments: argparse.Namespace) -> int:
    """The recorder image (`make image`)."""
    from local import engine as docker_engine
    from local.image import main as build

    reason = docker_engine.why_not()
    if reason and arguments.if_engine:
        print(f">> no recorder image: {reason}; the Docker tests skip")
        return 0
    return build(arguments.tag, arguments.base)


def engine(arguments: argparse.Namespace) -> int:
    """The Docker engine: started if none answers, stopped only by whoever started it."""
    import subprocess

    from local import engine as docker_engine

    if arguments.action == "stop":
        print("stopped the engine this project started" if docker_engine.stop() else "no engine of ours runs")
        return 0
    reason = docker_engine.why_not()
    if reason:
        print(f"no Docker engine: {reason}", file=sys.stderr)
        if arguments.action == "start":
            return 1
        return subprocess.call(arguments.argv)  # `run`: the command goes on, its Docker tests skip
    if arguments.action == "start":
        print("started dockerd" if docker_engine.start() else "a Docker engine already answers")
        return 0
    with docker_engine.running():
        return subprocess.call(arguments.argv)


def sam_invoke(arguments: argparse.Namespace) -> int:
    """`sam local invoke` against the running stack, nothing pulled (`make sam-invoke`)."""
    from local.sam_invoke import invoke

    sam_env = dict(os.environ) | {"SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}
    return invoke(arguments.function, arguments.event, arguments.sam, sam_env)


def events(arguments: argparse.Namespace) -> int:
    """Puts an event, as AWS delivers it (events/*.json), on the running stack's EventBridge: the
    template's rules take it to their function, as in AWS (`local.event_sources.EventBus`)."""
    import json

    import boto3

    from local.event_sources import put_event
    from local.media_node import recordings_path
    from recorder.settings_file import parse_env_file

    node = recordings_path(os.environ) / ".env"
    if not node.exists():
        print(f"no {node}: start the stack first (make up)", file=sys.stderr)
        return 2
    endpoint = parse_env_file(node.read_text())["HA_AWS_S3_SERVICE_ENDPOINT"]  # the stack's moto
    bus = boto3.client(
        "events",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
    )
    for path in arguments.files:
        event = json.loads(Path(path).read_text())
        print(json.dumps({"put": path, "detail-type": event["detail-type"], "id": put_event(bus, event)}))
    return 0


def dlq(arguments: argparse.Namespace) -> int:
    """The dead-letter queue of a running stack: `ovha dlq`, with the API's JSON."""
    from local import ovha

    ids = (arguments.ids or []) if arguments.action == "redrive" else []
    return ovha.main(["--url", arguments.url, "--json", "dlq", arguments.action, *ids])


def main(argv: list[str] | None = None) -> int:
    from local.drill.faults import FAULTS

    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the local stack (PORT, default 8080)").set_defaults(run=up)
    checking = commands.add_parser("validate", help="check the configuration in the environment")
    checking.set_defaults(run=validate)
    commands.add_parser(
        "config-reference", help="write docs/configuration.md from the settings' field descriptions"
    ).set_defaults(run=config_reference)
    drilling = commands.add_parser("drill", help="kill a real recorder mid-recording; check the final file")
    drilling.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "1")))
    drilling.add_argument("--timing", choices=["default", "fast"], default=None, help="default: $HA_TIMING")
    drilling.add_argument(
        "--mode",
        choices=list(FAULTS),
        help="; ".join(f"{fault.name}: {fault.what}" for fault in FAULTS.values()),
        default="kill",
    )
    drilling.add_argument("--seed", type=int, default=None)
    drilling.add_argument(
        "--source",
        choices=["synthetic", "openvidu"],
        default=os.environ.get("DRILL_SOURCE", "synthetic"),
        help="what the recorders capture: a test pattern, or a real Chromium on a test page",
    )
    drilling.add_argument(
        "--runtime",
        choices=["process", "docker"],
        default=os.environ.get("RUNTIME") or "process",
        help="docker: primaries and backups are containers of the recorder image (make image), on a real "
        "Chromium",
    )
    drilling.add_argument(
        "--keep",
        default=os.environ.get("KEEP") or None,
        help="a folder: each failed run's files and S3 objects are copied there (make drill KEEP=...)",
    )
    drilling.add_argument(
        "--hold",
        action="store_true",
        default=os.environ.get("HOLD", "") not in ("", "0"),
        help="keep the drill's stack serving after the runs, with the console's links (make drill HOLD=1)",
    )
    drilling.set_defaults(run=drill)
    emulated = commands.add_parser(
        "openvidu", help="OpenVidu 2.x's side of a recording, against a running stack"
    )
    emulated.add_argument("action", choices=["record"])
    emulated.add_argument(
        "--seconds", type=float, default=20, help="record this long, then stop (default 20)"
    )
    emulated.add_argument("--kill-at", type=float, default=None, help="kill the container at this second")
    emulated.add_argument("--name", default="recording", help="the recording's name (VIDEO_NAME)")
    emulated.add_argument("--resolution", default="320x240")
    emulated.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8080')}")
    emulated.add_argument("--containers", default=".local-data/containers", help="containers' working dirs")
    emulated.add_argument(
        "--runtime", choices=["process", "docker"], default="process", help="docker: the recorder image"
    )
    emulated.add_argument("--image", default=None, help="the recorder image (default $IMAGE or ours)")
    emulated.add_argument(
        "--mode", choices=["composed", "quick-start"], default="composed", help="OpenVidu's output mode"
    )
    emulated.add_argument(
        "--count", type=int, default=1, help="recordings in turn (quick-start: one container)"
    )
    emulated.set_defaults(run=openvidu)
    dead = commands.add_parser("dlq", help="list or redrive the dead-lettered webhooks of a running stack")
    dead.add_argument("action", choices=["list", "redrive"])
    dead.add_argument(
        "--id", dest="ids", action="append", help="a webhook id to redrive (repeatable); none: all"
    )
    dead.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8080')}")
    dead.set_defaults(run=dlq)
    bus = commands.add_parser(
        "events", help="put AWS events (events/*.json) on a running stack's EventBridge"
    )
    bus.add_argument("action", choices=["put"])
    bus.add_argument(
        "files", nargs="+", help="events as AWS delivers them, e.g. events/spot-interruption.json"
    )
    bus.set_defaults(run=events)
    building = commands.add_parser("image", help="build the recorder image from Debian's packages")
    building.add_argument("--tag", default=os.environ.get("IMAGE") or "openvidu-ha-recorder:latest")
    building.add_argument("--base", default=os.environ.get("BASE_IMAGE") or None, help="default: made here")
    building.add_argument(
        "--if-engine", action="store_true", help="skip, saying why, where no engine can run"
    )
    building.set_defaults(run=image)
    invoking = commands.add_parser("sam-invoke", help="sam local invoke against the running stack")
    invoking.add_argument("function", nargs="?", default="ApiFunction")
    invoking.add_argument("event", nargs="?", default="events/heartbeat.json")
    invoking.add_argument("--sam", default=".venv-sam/bin/sam")
    invoking.set_defaults(run=sam_invoke)
    engines = commands.add_parser("engine", help="start or stop the Docker engine, or run a command with one")
    engines.add_argument("action", choices=["start", "stop", "run"])
    engines.add_argument("argv", nargs=argparse.REMAINDER, help="run: the command (after --)")
    engines.set_defaults(run=engine)
    arguments = parser.parse_args(argv)
    if getattr(arguments, "argv", None) and arguments.argv[:1] == ["--"]:
        arguments.argv = arguments.argv[1:]
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(asctime)s %(name)s %(message)s"
    )
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
