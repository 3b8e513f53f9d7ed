"""`python -m local up | validate`: the local stack and the configuration check."""

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
    stack.start()
    print(stack.banner(), flush=True)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    with contextlib.suppress(KeyboardInterrupt):
        stopping.wait()
    stack.stop()
    return 0


def validate(_: argparse.Namespace) -> int:
    from hacore.config_check import check

    settings, problems, notes = check(os.environ)
    for problem in problems:
        print(f"ERROR  {problem}")
    for note in notes:
        print(f"note   {note}")
    if problems:
        print(f"{len(problems)} problem(s): the configuration is not usable")
        return 1
    print(f"OK     configuration is valid (profile {settings.profile if settings else '?'})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the local stack (PORT, default 8080)").set_defaults(run=up)
    commands.add_parser("validate", help="check the configuration in the environment").set_defaults(
        run=validate
    )
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(asctime)s %(name)s %(message)s"
    )
    return int(arguments.run(arguments))


if __name__ == "__main__":
    sys.exit(main())
