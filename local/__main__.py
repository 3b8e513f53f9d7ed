"""`python -m local up | validate | drill | dlq | openvidu`: the local stack, the configuration check, the
failover drill, the webhook dead-letter queue, and an emulated OpenVidu recording."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading

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


def drill(arguments: argparse.Namespace) -> int:
    from local.drill import run_drill

    results = run_drill(arguments.runs, arguments.timing, arguments.mode, arguments.seed, arguments.source)
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
    emulator = OpenViduEmulator(
        recordings_path=folder,
        webhook_url=f"{arguments.url.rstrip('/')}/openvidu/webhook",
        containers_dir=Path(arguments.containers).resolve(),
        webhook_headers=parse_headers(os.environ.get("OPENVIDU_WEBHOOK_HEADERS")),
        on_event=lambda event: print(json.dumps(event), flush=True),
    )
    recording = emulator.record(
        arguments.seconds, arguments.kill_at, name=arguments.name, resolution=arguments.resolution
    )
    print(
        json.dumps(
            {
                "openvidu_status": recording.status,
                "id": recording.id,
                "folder": str(emulator.output_dir(recording)),
                "container": str(recording.workdir),
                **recording.timings,
            }
        ),
        flush=True,
    )
    return 0 if recording.status == "ready" else 1


def dlq(arguments: argparse.Namespace) -> int:
    """The dead-letter queue of a running stack: `ovha dlq`, with the API's JSON."""
    from local import ovha

    ids = (arguments.ids or []) if arguments.action == "redrive" else []
    return ovha.main(["--url", arguments.url, "--json", "dlq", arguments.action, *ids])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the local stack (PORT, default 8080)").set_defaults(run=up)
    checking = commands.add_parser("validate", help="check the configuration in the environment")
    checking.set_defaults(run=validate)
    drilling = commands.add_parser("drill", help="kill a real recorder mid-recording; check the final file")
    drilling.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "1")))
    drilling.add_argument("--timing", choices=["default", "fast"], default=None, help="default: $HA_TIMING")
    drilling.add_argument(
        "--mode",
        choices=[
            *("kill", "backup-kill", "ffmpeg", "hang", "zombie", "none", "browser", "renderer", "freeze"),
            *("api-outage", "partition", "node-loss"),
        ],
        default="kill",
    )
    drilling.add_argument("--seed", type=int, default=None)
    drilling.add_argument(
        "--source",
        choices=["synthetic", "openvidu"],
        default=os.environ.get("DRILL_SOURCE", "synthetic"),
        help="what the recorders capture: a test pattern, or a real Chromium on a test page",
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
    emulated.set_defaults(run=openvidu)
    dead = commands.add_parser("dlq", help="list or redrive the dead-lettered webhooks of a running stack")
    dead.add_argument("action", choices=["list", "redrive"])
    dead.add_argument(
        "--id", dest="ids", action="append", help="a webhook id to redrive (repeatable); none: all"
    )
    dead.add_argument("--url", default=f"http://127.0.0.1:{os.environ.get('PORT', '8080')}")
    dead.set_defaults(run=dlq)
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(asctime)s %(name)s %(message)s"
    )
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
