"""The lifecycle property test, run long: LIFECYCLE_EXAMPLES (default 1000) random interleavings
with a fresh seed (LIFECYCLE_SEED to repeat one), reporting how many were tried and how they
ended. `make test` runs the same property on a fixed set of 50 (tests/unit/test_lifecycle_property.py).
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter

from bench.stats import emit, percentile


def run() -> None:
    examples = int(os.environ.get("LIFECYCLE_EXAMPLES", "1000"))
    seed = int(os.environ.get("LIFECYCLE_SEED") or random.randrange(2**32))
    os.environ |= {"LIFECYCLE_EXAMPLES": str(examples), "LIFECYCLE_SEED": str(seed)}
    import logging

    from hypothesis import seed as with_seed

    from tests.unit import test_lifecycle_property as prop
    from tests.unit.lifecycle_world import bound_s, world_settings

    logging.disable(logging.ERROR)  # held takeovers, released holds, given-up sessions: the point, not news
    began = time.monotonic()
    failure = None
    try:
        with_seed(seed)(prop.test_every_recording_ends_with_exactly_one_terminal_for_the_customer)()
    except Exception as error:  # the property failed: the line says so, with the example
        failure = f"{type(error).__name__}: {error}"[:2000]
    finally:
        logging.disable(logging.NOTSET)
    played = prop.OUTCOMES
    seconds = [o["seconds_to_end"] for o in played]
    ends = Counter(f"{'ours' if o['ours'] else 'openvidu'}:{o['terminal']}" for o in played)
    emit(
        "lifecycle-property",
        seed=seed,
        interleavings_tried=len(played),
        failing=0 if failure is None else 1,
        failure=failure,
        steps_mean=round(statistics.fmean(o["steps"] for o in played), 1) if played else None,
        controller_crashes=sum(o["crashes"] for o in played),
        took_over=sum(1 for o in played if o["epochs"] > 1),
        terminals=dict(ends),
        end_after_stop_p50_s=percentile(seconds, 50),
        end_after_stop_max_s=max(seconds, default=None),
        bound_s=bound_s(world_settings("sessions", "queue")),
        wall_s=round(time.monotonic() - began, 1),
    )
