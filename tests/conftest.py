"""Every test runs with dummy AWS credentials and no real endpoint: nothing here may reach AWS."""

from __future__ import annotations

import os

import pytest

for _name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "HA_CONTROLLER_CREDENTIALS_SECRET"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-east-1",
    AWS_REGION="us-east-1",
    POWERTOOLS_DEV="false",
    POWERTOOLS_LOG_LEVEL="WARNING",
    POWERTOOLS_METRICS_NAMESPACE="OpenViduHA",
    POWERTOOLS_SERVICE_NAME="recorder-ha-controller",
)


# What must share one worker (pytest-xdist): the tests that list or remove every container of the
# engine, and run `sam local invoke` on it, would see each other's; and the drills, which judge
# stills and durations of real captures: several at once on two cores starve each other's
# x11grab (a 2 s still, a file 3 s longer than its chunks, seen in CI with four at once).
GROUPS = {"tests/e2e/test_docker.py": "engine", "tests/e2e/test_drill.py": "drill"}


# The longest first, so that the workers finish together (longest-first scheduling): the
# property tests, the drills and containers, the fuzz; then the rest in their order.
FIRST = (
    "tests/unit/test_lifecycle_property.py",
    "tests/e2e/",
    "tests/integration/test_openapi_fuzz.py",
    "tests/unit/test_heartbeat_paths.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = GROUPS.get(item.nodeid.split("::")[0])
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(item: pytest.Item) -> int:
        return next((n for n, prefix in enumerate(FIRST) if item.nodeid.startswith(prefix)), len(FIRST))

    items.sort(key=rank)
