"""The local runtime: the real handlers on this machine, over an embedded moto server.

It puts `functions/` on the import path, as Lambda does with a function's code root.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS = ROOT / "functions"
if str(FUNCTIONS) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS))
