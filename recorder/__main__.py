"""`python -m recorder [run|finalize]`: what the recorder container (and a local backup) runs."""

from __future__ import annotations

import logging
import os
import sys

from recorder.agent import main

if __name__ == "__main__":
    code = main(sys.argv[1:])
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    # Exit now: an S3 upload abandoned at the stop budget runs in s3transfer's worker threads, which
    # the interpreter would otherwise wait for, past OpenVidu's 30 s (every file is already closed).
    os._exit(code)
