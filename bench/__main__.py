"""`python -m bench [api] [failover] [webhooks] [outage] [stop] [soak] [lifecycle] [console]`: runs the
benchmarks, a JSON line a figure."""

from __future__ import annotations

import sys

import local  # noqa: F401 - puts functions/ on the path
from bench import (
    api_bench,
    console_bench,
    failover_bench,
    lifecycle_bench,
    soak_bench,
    stop_bench,
    webhook_bench,
    webhook_outage_bench,
)

SUITES = {
    "api": api_bench.run,
    "failover": failover_bench.run,
    "webhooks": webhook_bench.run,
    "outage": webhook_outage_bench.run,
    "stop": stop_bench.run,
    "soak": soak_bench.run,
    "lifecycle": lifecycle_bench.run,
    "console": console_bench.run,
}


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    for name in chosen:
        if name not in SUITES:
            print(f"unknown benchmark {name!r}; choose from {', '.join(SUITES)}", file=sys.stderr)
            return 2
        SUITES[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
