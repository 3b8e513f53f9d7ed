"""Every test runs with dummy AWS credentials and no real endpoint: nothing here may reach AWS."""

from __future__ import annotations

import os

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
