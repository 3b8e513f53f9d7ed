"""`python -m recorder [run|finalize]`: what the recorder container (and a local backup) runs."""

from __future__ import annotations

import sys

from recorder.agent import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
