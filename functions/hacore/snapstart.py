"""SnapStart: what must differ between execution environments restored from one snapshot.

Lambda restores every environment of a published version from the same memory image, so the
`random` module's state would be the same in all of them: their retry jitter (the session and
standby stores' conflict backoff, the relay's) would collide in lockstep, which is what jitter is
there to prevent. After each restore it is seeded afresh from the OS. Elsewhere nothing is
restored, and the hook library (part of Lambda's Python runtime) is absent: nothing to do.
"""

from __future__ import annotations

import random


def reseed_after_restore() -> bool:
    """Registers the reseed; False where there is no SnapStart (local runs, tests without the library)."""
    try:
        from snapshot_restore_py import register_after_restore
    except ImportError:
        return False
    register_after_restore(random.seed)
    return True
