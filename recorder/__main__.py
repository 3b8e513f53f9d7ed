"""`python -m recorder [run|finalize|standby|quick-start]`: what the recorder container (and a
local backup) runs. The only dispatcher: each command's module is imported when it is chosen,
so a standby or OpenVidu's stock recorder does not load what it does not run.

run: record (the default; OpenVidu's stock recorder without HA settings); finalize: join what S3
holds for VIDEO_ID; standby: wait warm for a takeover (RECORDER_ACTION too); quick-start:
OpenVidu's COMPOSED_QUICK_START container (with --start-recording or --stop-recording); watch:
the media node's watcher, with the node's Docker socket (recorder.watch).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from recorder.logs import LOG_FORMAT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m recorder", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "command", nargs="?", choices=["run", "finalize", "standby", "quick-start", "watch"], default=None
    )
    parser.add_argument("--start-recording", action="store_true", help="quick-start: record VIDEO_ID")
    parser.add_argument("--stop-recording", action="store_true", help="quick-start: stop it (10 s)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
    if arguments.command == "quick-start":
        from recorder import agent, quick_start

        return quick_start.main(
            arguments.start_recording, arguments.stop_recording, dict(os.environ), agent.record
        )
    if arguments.command == "watch":
        from recorder import watch

        return watch.main(dict(os.environ))
    environ = dict(os.environ) | ({"RECORDER_ACTION": arguments.command} if arguments.command else {})
    if environ.get("RECORDER_ACTION") == "standby":
        from recorder import standby

        return standby.main(environ)
    from recorder import agent

    return agent.record(environ)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now: an S3 upload abandoned at the stop budget runs in s3transfer's worker threads, which
    # the interpreter would otherwise wait for, past OpenVidu's 30 s (every file is already closed).
    os._exit(code)
